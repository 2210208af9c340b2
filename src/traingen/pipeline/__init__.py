"""Scheduling: shards of sample indices run by an executor; jobs wire a source, a technique and a writer.

This package holds no technique and no file format (DESIGN §1).
"""

from ..core.parallel import ShardTask, run_local, set_single_thread

__all__ = ["ShardTask", "run_local", "set_single_thread"]
