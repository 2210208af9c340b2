"""SIMS: semi-parametric image synthesis from a label map, with a memory bank of real segments.

Pipeline at synthesis time (:meth:`SIMS.synthesize`), per label map:

1. cut the label map into segments (connected components per class, :mod:`.sims_bank`);
2. retrieve the top-``k`` bank segments of each segment's class by mask IoU (plus the context IoU
   when ``context_weight > 0``) and draw one of them;
3. align each retrieved segment to its query mask with the affine :class:`~.sims_nets.SpatialTransformer`;
4. order the aligned segments with the :class:`~.sims_nets.OrderingNet` and paste them back to front
   on a canvas with boundary elision (:mod:`.sims_canvas`);
5. the :class:`~.sims_nets.CascadedRefinementNet` turns (label map, canvas, canvas mask) into the image.

Training (:meth:`SIMS.train_step`, one step updates all three networks):

* synthesis net: on **simulated** canvases (the image's own segments cut by the masks of retrieved
  segments, colour transfer with p = ``p_colour``), loss
  ``Σ_taps Σ_c mean_{pixels of class c} |φ(out) − φ(real)| + |out − real|₁ (class-masked the same way)
  + w_semantic · CE(semantic head, label map)`` with φ the ``backbone`` (``random-multiscale`` offline,
  ``vgg19`` from a weight file);
* spatial transformer: ``1 − soft IoU`` of the warped retrieved mask with the query mask;
* ordering net: binary cross-entropy on the touching segment pairs of each label map, labelled by the
  renderer's depth (nearer on the shared band = in front).

Training data: pairs whose A half holds the class map (channels 0/1, ``class · (255 // num_classes)``)
and the depth (channel 2, larger is nearer), as ``builtin:render-mask2rgb``; the bank is built from the
``bank`` source (the training split by default) when first needed, so it is a function of the config and
not stored in checkpoints. Every draw of step ``t`` comes from ``torch_generator(seed, "sims", t)``.

Example:
    >>> model = SIMS(SIMSConfig(image_size=32, ngf=8, n_scales=3), generator=torch_generator(0, "init"))
    >>> model.set_bank(bank)
    >>> logs = model.train_step({"A": a, "B": b}, step=0, seed=0)
    >>> out = model.synthesize(label_maps, generator=torch_generator(0, "x"))

References:
    Qi, Chen, Jia & Koltun. "Semi-parametric Image Synthesis", CVPR 2018. arXiv:1804.10992.
    Chen & Koltun. "Photographic Image Synthesis with Cascaded Refinement Networks", ICCV 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..core.config import require_at_least_one
from ..core.errors import ConfigError
from ..core.optim import adam
from ..core.seeding import torch_generator
from .model_base import TranslateModel
from .sims_bank import SegmentBank, connected_segments, retrieve
from .sims_canvas import compose_canvas, depth_order_pairs, onehot, order_from_net, simulate_canvas
from .sims_nets import CascadedRefinementNet, OrderingNet, SpatialTransformer, soft_iou_loss, warp


@dataclass
class SIMSConfig:
    """SIMS networks, retrieval, canvases and losses.

    Attributes:
        image_size: side of the label maps and images (a multiple of ``2^(n_scales-1)``).
        num_classes: classes of the label map, background included (render-mask2rgb: 4).
        ngf, n_scales, max_channels: the cascaded refinement network.
        stn_width, order_width: widths of the transformer and ordering encoders.
        k: retrieval depth (one of the top-k is drawn per segment).
        context_weight, ring: the optional context IoU term of retrieval.
        p_colour: probability of colour transfer in simulated canvases (paper: 0.2).
        elision: boundary elision band in pixels.
        clip_to_query: beyond the paper: paste each aligned segment only inside its own query segment, as the
            simulated training canvases are (own segments cut by retrieved masks never cross a label boundary);
            off (the paper): aligned segments overlap and the ordering network decides which is in front.
        min_pixels: smallest segment stored or queried.
        w_semantic: weight of the semantic cross-entropy (paper: 10).
        w_pixel: weight of the class-masked L1 on pixels (the CRN's image-level term).
        bank, bank_limit: source of the segment bank (A|B pairs as the training data) and its size cap.
        backbone, backbone_weights, backbone_options, feature_taps: the feature loss's network.
        lr, beta1, beta2: Adam for all three networks.
    """

    image_size: int = 64
    num_classes: int = 4
    ngf: int = 32
    n_scales: int = 5
    max_channels: int = 128
    stn_width: int = 8
    order_width: int = 8
    k: int = 5
    context_weight: float = 0.0
    ring: int = 3
    p_colour: float = 0.2
    elision: int = 1
    clip_to_query: bool = False
    min_pixels: int = 4
    w_semantic: float = 10.0
    w_pixel: float = 1.0
    bank: str = "builtin:render-mask2rgb@train"
    bank_limit: int = 0
    backbone: str = "random-multiscale"
    backbone_weights: str | None = None
    backbone_options: dict[str, Any] = field(default_factory=lambda: {"kernel_sizes": [3, 5, 7, 11], "maps": 16})
    feature_taps: list[str] = field(default_factory=list)
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999

    def __post_init__(self) -> None:
        require_at_least_one(self, ("ngf", "n_scales", "max_channels", "stn_width", "order_width", "k",
                                    "min_pixels", "ring"))
        if self.num_classes < 2:
            raise ConfigError(f"need at least 2 classes, got {self.num_classes}", field="num_classes")
        if self.image_size % 2 ** (self.n_scales - 1) or self.image_size < 8:
            raise ConfigError(f"image_size {self.image_size} must be >= 8 and a multiple of 2^(n_scales-1) = "
                              f"{2 ** (self.n_scales - 1)}", field="image_size")
        if not 0.0 <= self.p_colour <= 1.0 or self.elision < 0 or self.context_weight < 0 or self.lr <= 0:
            raise ConfigError("need 0 <= p_colour <= 1, elision >= 0, context_weight >= 0, lr > 0",
                              field="p_colour")


@dataclass
class Synthesis:
    """What :meth:`SIMS.synthesize` made: images N×3×H×W, canvases N×3×H×W (both in [-1, 1]), canvas
    masks N×1×H×W, and the bank indices used per image (-1: no segment of that class in the bank)."""

    images: torch.Tensor
    canvases: torch.Tensor
    canvas_masks: torch.Tensor
    retrieved: list[list[int]]


def class_masked_l1(a: torch.Tensor, b: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``Σ_c mean over class c's pixels of |a − b|`` (masks N×C×H×W resized to ``a``'s size by area)."""
    m = F.adaptive_avg_pool2d(masks, a.shape[-2:]) if masks.shape[-2:] != a.shape[-2:] else masks
    diff = (a - b).abs().mean(1, keepdim=True)  # N×1×h×w
    per_class = (diff * m).sum((0, 2, 3)) / m.sum((0, 2, 3)).clamp_min(1e-6)
    return per_class[m.sum((0, 2, 3)) > 0].sum()


class SIMS(TranslateModel):
    """The SIMS model for the translation trainer: networks, optimizers, a training step, synthesis."""

    config_class: ClassVar[type] = SIMSConfig
    paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)

    def __init__(self, config: SIMSConfig, *, generator: torch.Generator):
        from .networks import init_weights

        self.config = c = config
        self.crn = CascadedRefinementNet(c.num_classes, ngf=c.ngf, n_scales=c.n_scales, max_channels=c.max_channels)
        self.stn = SpatialTransformer(width=c.stn_width)
        self.order = OrderingNet(c.num_classes, width=c.order_width)
        for net in (self.crn, self.stn, self.order):
            init_weights(net, generator=generator, gain=0.02)
        self.stn.reset_identity()
        betas = (c.beta1, c.beta2)
        self.opt_crn = adam(self.crn.parameters(), lr=c.lr, betas=betas)
        self.opt_stn = adam(self.stn.parameters(), lr=c.lr, betas=betas)
        self.opt_order = adam(self.order.parameters(), lr=c.lr, betas=betas)
        self._bank: SegmentBank | None = None
        self._backbone: Any = None

    @property
    def nets(self) -> dict[str, nn.Module]:
        return {"crn": self.crn, "stn": self.stn, "order": self.order}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_crn": self.opt_crn, "opt_stn": self.opt_stn, "opt_order": self.opt_order}

    def generator(self, direction: str = "AtoB") -> nn.Module:
        if direction != "AtoB":
            raise ConfigError(f"sims synthesises AtoB (labels -> image) only, got {direction!r}", field="direction")
        return self.crn

    # -- resources (functions of the config, not checkpointed)
    def set_bank(self, bank: SegmentBank) -> None:
        if bank.masks.shape[-1] != self.config.image_size or bank.masks.shape[-2] != self.config.image_size:
            raise ConfigError(f"bank masks are {tuple(bank.masks.shape[-2:])}, the model's image_size is "
                              f"{self.config.image_size}", field="bank")
        self._bank = bank

    def bank(self) -> SegmentBank:
        if self._bank is None:
            from .sims_data import load_bank

            self._bank = load_bank(self.config)
        return self._bank

    # -- training
    def _own_images(self, labels: torch.Tensor, bank: SegmentBank) -> torch.Tensor:
        """Bank index of each batch label map (-1 if absent), so an image never retrieves itself."""
        eq = (labels.flatten(1)[:, None].cpu() == bank.label_maps.flatten(1)[None]).all(-1)
        found = eq.any(1)
        return torch.where(found, eq.float().argmax(1), torch.full_like(found, -1, dtype=torch.int64))

    def train_step(self, batch: dict[str, torch.Tensor], *, step: int, seed: int,
                   check: Callable[[torch.Tensor, str], None] | None = None) -> dict[str, float]:
        """Update the synthesis net, the transformer and the ordering net once (module docstring).

        Args:
            batch: ``{"A": N×2×H×W (class index, depth in [0, 1] larger nearer), "B": N×3×H×W in [-1, 1]}``.
            step, seed: select the step's stream ``torch_generator(seed, "sims", step)``.
            check: the NaN guard.
        """
        c = self.config
        a, real = batch["A"], batch["B"]
        dev = a.device
        labels, depth = a[:, 0].round().long().clamp(0, c.num_classes - 1), a[:, 1]
        g = torch_generator(seed, "sims", step)
        bank = self.bank()
        own = self._own_images(labels, bank)
        canv, cmask = zip(*[simulate_canvas(real[i], labels[i], bank, image_index=int(own[i]), generator=g, k=c.k,
                                            p_colour=c.p_colour, elision=c.elision, min_pixels=c.min_pixels)
                            for i in range(len(a))], strict=True)
        oh = onehot(labels, c.num_classes)
        for net in self.nets.values():
            net.train()
        logs: dict[str, float] = {}

        rgb, logits = self.crn(oh, torch.stack(canv).to(dev), torch.stack(cmask).to(dev))
        bb = self.backbone(dev)
        taps = list(c.feature_taps) or list(bb.default_content_taps)
        to01 = lambda t: (t.clamp(-1, 1) + 1.0) * 0.5  # noqa: E731
        f_out = bb.maps(to01(rgb), taps)
        with torch.no_grad():
            f_real = bb.maps(to01(real), taps)
        feat = sum(class_masked_l1(f_out[t], f_real[t], oh) for t in taps) / len(taps)
        pix = class_masked_l1(rgb, real, oh)
        sem = F.cross_entropy(logits, labels)
        loss = feat + c.w_pixel * pix + c.w_semantic * sem
        self._step(loss, self.opt_crn, "crn_loss", check)
        logs.update(crn_loss=loss.item(), feature=feat.item(), pixel=pix.item(), semantic=sem.item())

        stn_loss = self._stn_loss(labels, bank, own, g)
        if stn_loss is not None:
            self._step(stn_loss, self.opt_stn, "stn_loss", check)
            logs["stn_iou"] = 1.0 - stn_loss.item()
        order_loss, acc = self._order_loss(labels, depth, oh)
        if order_loss is not None:
            self._step(order_loss, self.opt_order, "order_loss", check)
            logs.update(order_loss=order_loss.item(), order_acc=acc)
        return logs

    @staticmethod
    def _step(loss: torch.Tensor, opt: torch.optim.Optimizer, name: str,
              check: Callable[[torch.Tensor, str], None] | None) -> None:
        if check is not None:
            check(loss, name)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def _stn_loss(self, labels: torch.Tensor, bank: SegmentBank, own: torch.Tensor,
                  g: torch.Generator) -> torch.Tensor | None:
        """Align the top-1 retrieved segment (from another image) of every batch segment to it."""
        c = self.config
        q, r = [], []
        for i in range(len(labels)):
            segs = connected_segments(labels[i].cpu().numpy(), min_pixels=c.min_pixels)
            if not segs:
                continue
            m = torch.stack([torch.from_numpy(s) for _, s in segs])
            hits = retrieve(bank, m, torch.tensor([cl for cl, _ in segs]), k=c.k,
                            exclude_image=torch.full((len(segs),), int(own[i])))
            pick = torch.randint(0, c.k, (len(segs),), generator=g)
            for s in range(len(segs)):
                valid = hits.indices[s][hits.indices[s] >= 0]
                if len(valid):
                    q.append(m[s])
                    r.append(bank.masks[int(valid[int(pick[s]) % len(valid)])])
        if not q:
            return None
        dev = labels.device
        qm = torch.stack(q).float()[:, None].to(dev)
        rm = torch.stack(r).float()[:, None].to(dev)
        return soft_iou_loss(warp(rm, self.stn(qm, rm)), qm)

    def _order_loss(self, labels: torch.Tensor, depth: torch.Tensor,
                    oh: torch.Tensor) -> tuple[torch.Tensor | None, float]:
        mi, mj, ohs, tg = [], [], [], []
        for i in range(len(labels)):
            masks, pairs, targets = depth_order_pairs(labels[i], depth[i], min_pixels=self.config.min_pixels)
            for (p, q), t in zip(pairs, targets.tolist(), strict=True):
                mi.append(masks[p])
                mj.append(masks[q])
                ohs.append(oh[i])
                tg.append(t)
        if not tg:
            return None, 0.0
        dev = labels.device
        logit = self.order(torch.stack(mi).float()[:, None].to(dev), torch.stack(mj).float()[:, None].to(dev),
                           torch.stack(ohs))
        t = torch.tensor(tg, device=dev)
        acc = float(((logit > 0).float() == t).float().mean())
        return F.binary_cross_entropy_with_logits(logit, t), acc

    # -- synthesis
    @torch.no_grad()
    def synthesize(self, label_maps: torch.Tensor, *, generator: torch.Generator | None = None,
                   exclude_image: torch.Tensor | None = None) -> Synthesis:
        """Images for ``label_maps`` (N×H×W int) through retrieval, alignment, ordering and the CRN.

        Args:
            label_maps: N×H×W int class maps at ``image_size``.
            generator: draws one of the top-k per segment (None: always the best match).
            exclude_image: N bank image indices not to retrieve from (e.g. the query's own image).
        """
        c = self.config
        for net in self.nets.values():
            net.eval()
        bank = self.bank()
        dev = next(self.crn.parameters()).device
        labels = label_maps.long().clamp(0, c.num_classes - 1)
        oh = onehot(labels, c.num_classes).to(dev)
        canvases, cmasks, used = [], [], []
        for i in range(len(labels)):
            segs = connected_segments(labels[i].cpu().numpy(), min_pixels=1)
            m = torch.stack([torch.from_numpy(s) for _, s in segs])
            ex = None if exclude_image is None else torch.full((len(segs),), int(exclude_image[i]))
            hits = retrieve(bank, m, torch.tensor([cl for cl, _ in segs]), k=c.k, exclude_image=ex,
                            query_labels=labels[i][None].expand(len(segs), -1, -1).cpu(),
                            context_weight=c.context_weight, ring=c.ring)
            pick = (torch.randint(0, c.k, (len(segs),), generator=generator) if generator is not None
                    else torch.zeros(len(segs), dtype=torch.int64))
            chosen = []
            for s in range(len(segs)):
                valid = hits.indices[s][hits.indices[s] >= 0]
                chosen.append(int(valid[int(pick[s]) % len(valid)]) if len(valid) else -1)
            used.append(chosen)
            keep = [s for s in range(len(segs)) if chosen[s] >= 0]
            if not keep:
                canvases.append(torch.zeros(3, *labels.shape[-2:], device=dev))
                cmasks.append(torch.zeros(1, *labels.shape[-2:], device=dev))
                continue
            idx = torch.tensor([chosen[s] for s in keep])
            qm = m[keep].float()[:, None].to(dev)
            rm = bank.masks[idx].float()[:, None].to(dev)
            theta = self.stn(qm, rm)
            px = warp(torch.cat([bank.pixels(idx).to(dev), rm], 1), theta)
            wm = px[:, 3] > 0.5
            order = order_from_net(self.order, wm, oh[i:i + 1])
            cv, cm = compose_canvas(px[:, :3], wm, order, labels[i].to(dev), elision=c.elision,
                                    query_masks=qm[:, 0] if c.clip_to_query else None)
            canvases.append(cv)
            cmasks.append(cm)
        cv, cm = torch.stack(canvases), torch.stack(cmasks)
        rgb, _ = self.crn(oh, cv, cm)
        return Synthesis(rgb.clamp(-1, 1), cv, cm, used)
