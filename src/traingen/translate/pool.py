"""The image pool (history buffer) of CycleGAN's discriminator updates.

Shrivastava et al. update the discriminator with a history of generated images rather than only the
latest ones, which damps oscillation. CycleGAN keeps 50 images: while the pool is filling, each new
image is stored and used as is; once full, with probability 0.5 the new image replaces a uniformly
chosen stored one and the stored one is returned, otherwise the new image is returned.

The draws come from a ``torch.Generator`` passed in (the trainer derives one per step from the run
seed), and the pool's contents are part of the checkpoint, so a resumed run sees the same history.

Example:
    >>> pool = ImagePool(50)
    >>> d_input = pool.query(fake.detach(), generator=torch_generator(seed, "pool", step))

References:
    Shrivastava et al. "Learning from Simulated and Unsupervised Images through Adversarial Training",
    CVPR 2017, Sec. 2.3. Zhu et al., ICCV 2017, Sec. 4.
"""

from __future__ import annotations

import torch

from ..core.errors import CheckpointError, ConfigError


class ImagePool:
    """A buffer of up to ``size`` generated images (module docstring).

    Args:
        size: capacity; 0 disables the pool (``query`` returns its input).
        swap_probability: the chance that a full pool returns a stored image (0.5 in CycleGAN).
    """

    def __init__(self, size: int = 50, *, swap_probability: float = 0.5):
        if size < 0:
            raise ConfigError(f"pool size must be >= 0, got {size}", field="pool_size")
        if not 0.0 <= swap_probability <= 1.0:
            raise ConfigError(f"must lie in [0, 1], got {swap_probability}", field="swap_probability")
        self.size = size
        self.swap_probability = swap_probability
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
        """Images for the discriminator: a mix of ``images`` (N×C×H×W, detached) and stored ones.

        Args:
            images: the latest generated batch.
            generator: the source of every random choice of this call.

        Returns:
            A batch of the same shape.
        """
        if self.size == 0:
            return images
        out = []
        # One uniform and one index per image, drawn up front so the stream does not depend on the
        # branch taken.
        u = torch.rand(len(images), generator=generator)
        j = torch.randint(0, self.size, (len(images),), generator=generator)
        for k, img in enumerate(images):
            img = img.detach().clone()
            if len(self.images) < self.size:
                self.images.append(img)
                out.append(img)
            elif float(u[k]) < self.swap_probability:
                idx = int(j[k])
                out.append(self.images[idx])
                self.images[idx] = img
            else:
                out.append(img)
        return torch.stack(out, 0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The stored images as one tensor (``K×C×H×W``, K may be 0) for checkpoints."""
        if not self.images:
            return {"images": torch.zeros(0)}
        return {"images": torch.stack(self.images, 0).cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor], *, device: torch.device | str = "cpu") -> None:
        stored = state.get("images")
        if stored is None:
            raise CheckpointError("image pool state has no 'images'", field="pool")
        if stored.dim() > 1 and len(stored) > self.size:
            raise CheckpointError(f"image pool holds {len(stored)} images, more than its size {self.size}",
                                  field="pool")
        self.images = [x.to(device) for x in stored] if stored.dim() > 1 else []
