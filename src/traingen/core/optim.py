"""Adam with the fused implementation, shared by every trainer that steps many small tensors.

``torch.optim.Adam``'s default implementation loops over the parameters (a handful of small kernels
each); ``fused=True`` updates all of them in one pass. It is the same update (a test compares the two
to 1e-12 in float64); on this project's 2-core CPU the default loop took 12.8 ms per step for pix2pix's
ngf-16 U-Net and 352 ms for ngf 64, the fused one 1.3 / 44 ms (bench/RESULTS.md, session 9) -- a large
part of a small model's step. Floating-point rounding can differ from the loop in the last bits; runs
stay deterministic.

Example:
    >>> import torch
    >>> opt = adam(torch.nn.Linear(2, 2).parameters(), lr=1e-3, betas=(0.5, 0.999))
    >>> opt.defaults["fused"]
    True
"""

from __future__ import annotations

from typing import Any


def adam(params: Any, *, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> Any:
    """``torch.optim.Adam(params, lr, betas, fused=True)``; ``params`` as for torch (tensors or groups)."""
    import torch

    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
