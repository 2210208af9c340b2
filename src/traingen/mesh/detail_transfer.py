"""Detail transfer by geometric features (Berkiten et al. 2017): the pipeline of ``traingen mesh detail-transfer``.

1. Source: base = the welded source after non-shrinking λ|μ smoothing; detail = the signed offset of each
   vertex along the base's normals (:mod:`traingen.mesh.geometric_features`). The target is welded and
   smoothed the same way (a plain target barely moves).
2. An xatlas atlas on both bases (:mod:`traingen.mesh.atlas`); features baked per texel at ``levels``
   sizes (``size / 2^k``) and normalised per mesh (:mod:`traingen.mesh.detail_features`); every feature
   is then divided by the source's standard deviation (the same constant on both meshes), so that
   weights are comparable and "equal weights" means equal after whitening.
3. Metric learning (:mod:`traingen.mesh.detail_metric`): NNLS weights on the source's finest level
   (``weights="learned"``), or ``"equal"`` / ``"none"`` (feature-free synthesis) as baselines. Learned
   weights below ``min_weight`` are set to 0: a feature with weight 0.003 still dominates the distance when
   its distribution on the target is shifted from the source's by a few standard deviations (measured on
   two vase profiles: thickness at 0.003 lowered the transfer from 0.71 to 0.57).
4. Guided multi-resolution synthesis and the high-frequency step (:mod:`traingen.mesh.detail_synthesis`).
5. Outputs (:func:`save_outputs`): a 16-bit displacement PNG (scale and offset in ``result.json``), an
   object-space normal map of the displaced surface, and the midpoint-subdivided, displaced target OBJ with
   the atlas UVs.

Example:
    >>> from traingen.mesh.builtin import load_mesh
    >>> res = transfer_detail(load_mesh("builtin:mesh/vase"), load_mesh("builtin:mesh/vase/1"),
    ...                       DetailConfig(size=32, levels=2))  # doctest: +SKIP
    >>> sorted(res.weights, key=res.weights.get)[-1]  # doctest: +SKIP

References:
    Berkiten, Halber, Solomon, Ma, Li & Rusinkiewicz, "Learning Detail Transfer based on Geometric
    Features", Computer Graphics Forum (Eurographics) 2017. Taubin, "A Signal Processing Approach to Fair
    Surface Design", SIGGRAPH 1995.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..core.errors import ConfigError, DataError
from .atlas import Atlas, TexelMap, bake, build_atlas, downsample, fill_gutters, sample_in_chart, texel_charts
from .detail_features import FEATURES, texel_features, vertex_feature_table
from .detail_metric import learn_weights, patch_descriptors
from .detail_synthesis import high_frequency_step, synthesize
from .geometric_features import detail_offsets, taubin_smooth, vertex_normals, weld
from .mesh import Mesh, check_mesh


@dataclass
class DetailConfig:
    """Detail-transfer settings (strict keys; see the module doc for what each stage does)."""

    size: int = 128  # finest texel map side
    levels: int = 3  # pyramid levels: size, size/2, ...
    smooth_iterations: int = 20  # Taubin λ|μ pairs for the base
    smooth_lambda: float = 0.9  # stability is checked per mesh (stable_smoothing)
    smooth_mu: float = -0.92
    pairs: int = 6000  # texel pairs in the NNLS regression
    neighbours: int = 8
    candidates: int = 8
    coherence: float = 0.5
    passes: int = 2
    highpass_sigma: float = 1.0  # texels; 0 disables the high-frequency step
    weights: str = "learned"  # learned | equal | none
    min_weight: float = 0.05  # learned weights below this are set to 0 (then renormalised)
    smooth_target: bool = True  # smooth the target like the source (off for coarse targets that would collapse)
    subdivisions: int = 1  # midpoint subdivisions of the output mesh
    scale_detail: bool = True  # scale displacement by the target/source bounding-box diagonal ratio

    def __post_init__(self) -> None:
        if self.weights not in ("learned", "equal", "none"):
            raise ConfigError(f"weights must be learned, equal or none, got {self.weights!r}",
                              where="detail-transfer", field="weights")
        for name in ("size", "levels", "pairs", "neighbours", "candidates"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}", where="detail-transfer",
                                  field=name)
        if self.size % (2 ** (self.levels - 1)) or self.size >> (self.levels - 1) < 8:
            raise ConfigError(f"size {self.size} must be divisible by 2^(levels-1) = {2 ** (self.levels - 1)} "
                              "with the coarsest level >= 8 texels", where="detail-transfer", field="size")
        if self.subdivisions < 0 or self.subdivisions > 3:
            raise ConfigError("subdivisions must be in 0..3", where="detail-transfer", field="subdivisions")


@dataclass(eq=False)
class Prepared:
    """A base mesh with its atlas, texel maps and normalised features (coarse to fine)."""

    mesh: Mesh
    atlas: Atlas
    tmaps: list[TexelMap]
    feats: list[np.ndarray]


@dataclass(eq=False)
class DetailResult:
    """The synthesised displacement (finest map, per target vertex), the displaced mesh and the weights."""

    displacement: np.ndarray  # S×S, gutters filled
    mask: np.ndarray
    vertex_displacement: np.ndarray  # per welded target vertex
    target: Prepared
    mesh: Mesh  # subdivided, displaced, with atlas UVs
    normal_map: np.ndarray  # S×S×3 in [-1, 1]
    weights: dict[str, float] = field(default_factory=dict)  # used by the synthesis
    source_detail_map: np.ndarray | None = None
    raw_weights: dict[str, float] = field(default_factory=dict)  # NNLS before the min_weight cut


def _checked(mesh: Mesh, role: str) -> Mesh:
    try:
        check_mesh(mesh)
    except DataError as e:
        raise DataError(f"{role} mesh: {e.message}", where=e.where or mesh.name, field=e.field) from e
    w = weld(mesh)
    if w.n_faces == 0:
        raise DataError(f"{role} mesh has no non-degenerate faces", where=mesh.name, field="faces")
    return w


def stable_smoothing(faces: np.ndarray, n: int, lam: float, mu: float) -> tuple[float, float]:
    """``(lam, mu)`` if λ|μ smoothing is stable on this mesh, else the safe ``(0.7, -0.73)``.

    One λ|μ pair scales the Laplacian eigenmode of eigenvalue ``k`` (of ``I − D⁻¹A``, in [0, 2)) by
    ``(1 − λk)(1 − μk)``; the high modes grow when that falls below −1 (the passband's gain of at most
    1.0001 is Taubin's by design). The largest ``k`` of the mesh is computed (symmetric normalised form,
    Lanczos); ``(0.7, −0.73)`` is stable for every ``k < 2``.
    """
    from scipy.sparse import diags
    from scipy.sparse.linalg import eigsh

    from .geometric_features import _adjacency

    a = _adjacency(faces, n)
    deg = np.maximum(np.asarray(a.sum(1)).ravel(), 1)
    s = diags(1 / np.sqrt(deg)) @ a @ diags(1 / np.sqrt(deg))
    try:
        lo = float(eigsh(s, k=1, which="SA", return_eigenvectors=False, tol=1e-4, maxiter=5000,
                         v0=np.ones(n))[0]) if n > 2 else -1.0
    except Exception:  # no convergence: assume the worst case
        lo = -1.0
    k = 1 - lo  # the gain (1 − λk)(1 − μk) is a downward parabola: past its roots |gain| grows with k
    return (lam, mu) if (1 - lam * k) * (1 - mu * k) >= -1 else (0.7, -0.73)


def split_detail(mesh: Mesh, iterations: int = 20, lam: float = 0.9, mu: float = -0.92) -> tuple[Mesh, np.ndarray]:
    """Welded ``(base mesh, detail offsets per vertex)`` of a detailed mesh (λ|μ checked by
    :func:`stable_smoothing`)."""
    w = _checked(mesh, "source")
    lam, mu = stable_smoothing(w.faces, w.n_vertices, lam, mu)
    base = taubin_smooth(w.vertices, w.faces, iterations, lam, mu)
    return replace(w, vertices=base), detail_offsets(w.vertices, base, w.faces)


def prepare(base: Mesh, cfg: DetailConfig) -> Prepared:
    """Atlas, texel maps and features of a base mesh at the config's levels."""
    atlas = build_atlas(base, resolution=cfg.size)
    sizes = [cfg.size >> k for k in range(cfg.levels - 1, -1, -1)]
    table = vertex_feature_table(base.vertices, base.faces)
    tmaps, feats = texel_features(atlas, table, sizes)
    return Prepared(base, atlas, tmaps, feats)


def _pyramid(fine: np.ndarray, tmaps: list[TexelMap]) -> list[np.ndarray]:
    out = [fine]
    img, m = fine, tmaps[-1].mask
    for t in tmaps[-2::-1]:
        img, m = downsample(img, m)
        out.append(np.where(t.mask, fill_gutters(img, m), 0.0))
    return out[::-1]


def transfer_detail(source: Mesh, target: Mesh, config: DetailConfig | None = None, *, seed: int = 0,
                    on_stage=None, fixed_weights: dict[str, float] | None = None) -> DetailResult:
    """Transfer the source's displacement detail onto the target (see module doc).

    Args:
        source: the detailed mesh.
        target: the plain mesh to receive the detail.
        config: settings.
        seed: seeds the pair sampling and the random candidates.
        on_stage: called with a stage name after each stage (progress bars).
        fixed_weights: feature weights by name (others 0) in place of ``config.weights`` (ablations).

    Returns:
        A :class:`DetailResult`.
    """
    cfg = config or DetailConfig()
    stage = on_stage or (lambda _name: None)
    src_base, detail = split_detail(source, cfg.smooth_iterations, cfg.smooth_lambda, cfg.smooth_mu)
    tw = _checked(target, "target")
    tgt_base = tw
    if cfg.smooth_target:
        lam, mu = stable_smoothing(tw.faces, tw.n_vertices, cfg.smooth_lambda, cfg.smooth_mu)
        tgt_base = replace(tw, vertices=taubin_smooth(tw.vertices, tw.faces, cfg.smooth_iterations, lam, mu))
    if not np.isfinite(detail).all():
        raise DataError("the source's detail offsets are not finite", where=source.name, field="vertices")
    src = prepare(src_base, cfg)
    try:
        tgt = prepare(tgt_base, cfg)
    except DataError as e:
        hint = " (try smooth_target: false, or a finer target)" if cfg.smooth_target else ""
        raise DataError(f"target mesh: {e.message}{hint}", where=target.name, field=e.field) from e
    stage("features")
    sd = np.array([max(float(src.feats[-1][src.tmaps[-1].mask][:, k].std()), 1e-6) for k in range(len(FEATURES))])
    src_f = [f / sd for f in src.feats]
    tgt_f = [f / sd for f in tgt.feats]
    fine = bake(src.atlas, src.tmaps[-1], detail)
    src_disp = _pyramid(fine, src.tmaps)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 9]))
    ms = src.tmaps[-1].mask
    raw: dict[str, float] = {}
    if fixed_weights is not None:
        unknown = set(fixed_weights) - set(FEATURES)
        if unknown:
            raise ConfigError(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURES)}",
                              where="detail-transfer", field="fixed_weights")
        w = np.array([float(fixed_weights.get(n, 0.0)) for n in FEATURES])
    elif cfg.weights == "learned":
        desc = patch_descriptors(fine, ms)[ms]
        w = learn_weights(src_f[-1][ms], desc, rng, n_pairs=cfg.pairs, neighbours=cfg.neighbours)
        raw = {n: float(x) for n, x in zip(FEATURES, w, strict=True)}
        if cfg.min_weight > 0 and (w >= cfg.min_weight).any():  # small NNLS weights are noise (module doc)
            w = np.where(w >= cfg.min_weight, w, 0.0)
            w = w / w.sum()
    elif cfg.weights == "equal":
        w = np.full(len(FEATURES), 1.0 / len(FEATURES))
    else:
        w = None
    stage("weights")
    disp, corr = synthesize(src_f, [t.mask for t in src.tmaps], src_disp, tgt_f, [t.mask for t in tgt.tmaps], w,
                            rng, candidates=cfg.candidates, coherence=cfg.coherence, passes=cfg.passes)
    mt = tgt.tmaps[-1].mask
    disp = high_frequency_step(disp, mt, corr, fine, ms, cfg.highpass_sigma)
    if cfg.scale_detail:
        diag = lambda m: float(np.linalg.norm(np.ptp(m.vertices, 0)))  # noqa: E731
        disp = disp * diag(tgt_base) / max(diag(src_base), 1e-12)
    stage("synthesis")
    disp_full = fill_gutters(disp, mt)
    chart = texel_charts(tgt.tmaps[-1], tgt.atlas)
    per_atlas = sample_in_chart(disp_full, chart, tgt.atlas.uv, _vertex_charts(tgt.atlas))
    vdisp = np.zeros(tw.n_vertices)
    cnt = np.zeros(tw.n_vertices)
    np.add.at(vdisp, tgt.atlas.vmapping, per_atlas)
    np.add.at(cnt, tgt.atlas.vmapping, 1)
    vdisp /= np.maximum(cnt, 1)
    mesh = displaced_mesh(tw, tgt.atlas, disp_full, chart, cfg.subdivisions, name=f"{target.name}-detailed")
    normals = normal_map(tgt, disp_full)
    stage("outputs")
    weights = {} if w is None else {n: float(x) for n, x in zip(FEATURES, w, strict=True)}
    return DetailResult(disp_full, mt, vdisp, tgt, mesh, normals, weights, fill_gutters(fine, ms), raw)


def _vertex_charts(atlas: Atlas) -> np.ndarray:
    from .atlas import vertex_charts

    return vertex_charts(atlas)


def subdivide(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, face_chart: np.ndarray):
    """One midpoint subdivision (each triangle into 4) of an atlas mesh; positions and UVs at edge midpoints."""
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    uniq, inv = np.unique(e, axis=0, return_inverse=True)
    mid = len(vertices) + inv.reshape(-1, 3)  # midpoints of edges (0,1), (1,2), (2,0)
    v = np.concatenate([vertices, (vertices[uniq[:, 0]] + vertices[uniq[:, 1]]) / 2])
    t = np.concatenate([uv, (uv[uniq[:, 0]] + uv[uniq[:, 1]]) / 2])
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
    f = np.concatenate([np.stack(x, 1) for x in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return v, f, t, np.tile(face_chart, 4)


def displaced_mesh(welded: Mesh, atlas: Atlas, disp: np.ndarray, chart: np.ndarray, subdivisions: int, *,
                   name: str) -> Mesh:
    """The target (plain positions, atlas topology) subdivided and displaced along its welded normals."""
    v, f, uv, fc = welded.vertices[atlas.vmapping], atlas.faces, atlas.uv, atlas.face_chart
    for _ in range(subdivisions):
        v, f, uv, fc = subdivide(v, f, uv, fc)
    vchart = np.zeros(len(v), np.int64)
    vchart[f.ravel()] = np.repeat(fc, 3)
    d = sample_in_chart(disp, chart, uv, vchart)
    key = np.round(v / 1e-9).astype(np.int64)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    n_w = int(inv.max()) + 1
    dw = np.zeros(n_w)
    cnt = np.zeros(n_w)
    np.add.at(dw, inv, d)
    np.add.at(cnt, inv, 1)
    dw /= cnt
    pos = np.zeros((n_w, 3))
    pos[inv] = v
    n = vertex_normals(pos, inv[f])
    out = (pos + dw[:, None] * n)[inv]
    return Mesh(out, f, uv=uv, name=name)


def normal_map(tgt: Prepared, disp: np.ndarray) -> np.ndarray:
    """Object-space unit normals (S×S×3, 0 where uncovered) of the displaced surface, from finite differences
    of the displaced position map within each chart, oriented like the base normals."""
    tmap = tgt.tmaps[-1]
    m = tmap.mask
    base_n = bake(tgt.atlas, tmap, vertex_normals(tgt.mesh.vertices, tgt.mesh.faces))
    base_n /= np.maximum(np.linalg.norm(base_n, axis=-1, keepdims=True), 1e-12)
    pos = bake(tgt.atlas, tmap, tgt.mesh.vertices) + disp[..., None] * base_n
    chart = texel_charts(tmap, tgt.atlas)

    def diff(axis: int) -> np.ndarray:
        fwd = np.roll(pos, -1, axis) - pos
        bwd = pos - np.roll(pos, 1, axis)
        ok_f = (np.roll(chart, -1, axis) == chart) & m
        ok_b = (np.roll(chart, 1, axis) == chart) & m
        return np.where(ok_f[..., None], fwd, 0) + np.where(ok_b[..., None], bwd, 0)

    n = np.cross(diff(1), diff(0))
    n *= np.sign((n * base_n).sum(-1, keepdims=True) + 1e-30)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 1e-12, n / np.maximum(norm, 1e-12), base_n)
    return np.where(m[..., None], n, 0.0)
