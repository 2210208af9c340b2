"""Shared test set-up: one thread per process (two xdist workers share two cores), a temp cache."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# A fresh cache per test process, so tests exercise the loaders and never see a stale user cache.
if "TRAINGEN_TEST_KEEP_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _cache = tempfile.mkdtemp(prefix="traingen-cache-")
    os.environ["TRAINGEN_CACHE"] = _cache
    # Removed when this process exits (each xdist worker has its own), so CI leaves no 64 MB behind.
    atexit.register(shutil.rmtree, _cache, True)

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def structured_image():
    """A 64x80 RGB uint8 image with structure (gradients and a rectangle), not zeros."""
    import numpy as np

    h, w = 64, 80
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 3) % 256, (y * 4) % 256, ((x + y) * 2) % 256], axis=-1).astype(np.uint8)
    img[10:30, 20:50] = (255, 0, 0)
    return img
