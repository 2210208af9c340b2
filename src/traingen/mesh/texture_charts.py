"""Part texture charts for texture transfer: texel geometry, back-projection, completion, density.

Every part of a procedural model owns a canonical UV chart in ``[0, 1]²`` (OBJ convention, ``v`` up);
a part texture is an ``S×S`` image over that chart. Steps 4–6 of Wang et al.'s pipeline:

- :func:`texel_geometry`: the surface point and normal under every texel centre, found by
  hard-rasterizing the part's faces *in UV space* (each UV triangle placed at ``z = 0`` and seen by an
  orthographic-equivalent camera whose pixel ``i`` covers the texel ``[i, i+1)``). Parts whose faces
  share one chart (a rocket's fins) are rasterized one connected component at a time ("layers").
- :func:`back_project`: each texel's point is projected into the photo; a depth test against the
  rendered depth (and the part label there) rejects occluded texels, and the texel keeps the sample
  whose surface normal is the most frontal (largest ``|n·v|``) over layers and photos.
- :func:`complete_by_symmetry`: unseen texels copy the seen texel under the model's mirror plane
  (``x`` or ``y`` through the box centre, kept when the model is mirror-symmetric), matched in 3D.
- :func:`complete_by_quilting`: what is still unseen is filled by Efros–Freeman quilting from the
  largest fully observed rectangle of the chart (nearest observed texel when that is too small).
- :func:`chart_lengths` / :func:`resample_for_density`: metres per UV unit along ``u`` and ``v``; a
  target part gets a texture whose side is scaled by its size ratio to the source part, filled by
  wrapping (``u``) and mirroring (``v``) the source, so texels per metre stay constant.
- :func:`pack_parts`: the part textures side by side in one atlas, UVs remapped, for rendering and OBJ.

References:
    Wang, Su, Huang, Huang, Guibas & Mitra, "Unsupervised Texture Transfer from Images to Model
    Collections", SIGGRAPH Asia 2016. Efros & Freeman, "Image Quilting for Texture Synthesis and
    Transfer", SIGGRAPH 2001.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..render.camera import Camera
from .mesh import Mesh
from .raster import rasterize


@dataclass
class TexelLayer:
    """Texel geometry of one connected component of a part: ``valid`` S×S, ``point``/``normal`` S×S×3."""

    valid: np.ndarray
    point: np.ndarray
    normal: np.ndarray


def uv_camera(size: int) -> Camera:
    """A camera seeing the UV square ``[0,1]²`` at ``z = 0`` so that pixel ``(i, j)`` is texel ``(i, j)``."""
    D = 1000.0
    K = np.array([[size * D, 0, size / 2], [0, size * D, size / 2], [0, 0, 1.0]])
    R = np.diag([1.0, -1.0, -1.0])
    return Camera(K, R, np.array([-0.5, 0.5, D]), size, size, near=1.0, far=2 * D)


def _components(faces: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(faces.max()) + 1
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    return lab[faces[:, 0]]


def texel_geometry(mesh: Mesh, part: int, size: int) -> list[TexelLayer]:
    """Surface points and normals under the texel centres of ``part``'s chart (one layer per component)."""
    faces_all = mesh.faces[mesh.face_parts == part] if mesh.face_parts is not None else mesh.faces
    comp = _components(faces_all)
    cam = uv_camera(size)
    fn_all = mesh.face_normals()
    fidx_all = np.nonzero(mesh.face_parts == part)[0] if mesh.face_parts is not None else np.arange(mesh.n_faces)
    layers = []
    for c in np.unique(comp):
        sel = comp == c
        faces = faces_all[sel]
        uv3 = np.concatenate([mesh.uv[faces].reshape(-1, 2), np.zeros((faces.size, 1))], 1)
        out = rasterize(torch.tensor(uv3, dtype=torch.float64), torch.arange(faces.size).reshape(-1, 3), cam,
                        mode="hard")
        fid = out.face_id[0].numpy()
        valid = fid >= 0
        f = np.where(valid, fid, 0)
        bary = out.bary[0].numpy()
        point = (mesh.vertices[faces[f]] * bary[..., None]).sum(-2) * valid[..., None]
        normal = fn_all[fidx_all[sel][f]] * valid[..., None]
        layers.append(TexelLayer(valid, point, normal))
    return layers


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.remap(img.astype(np.float32), x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def back_project(albedo: np.ndarray, point_map: np.ndarray, part_map: np.ndarray, camera: Camera, part: int,
                 layers: list[TexelLayer], best: tuple[np.ndarray, np.ndarray] | None = None, *,
                 depth_tol: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``albedo`` (H×W×3) into a part chart; returns ``(texture S×S×3, frontalness S×S)``.

    A texel is observed where the visible surface point of the pixel it lands on (``point_map``, H×W×3,
    from the aligned model's render) lies within ``depth_tol·z`` of the texel's own point (a depth test
    that also rejects thin walls behind), the pixel's 3×3 neighbourhood is on the same part, and it
    faces the camera; ``best`` (a
    previous result) is updated where the new sample is more frontal. Unobserved texels: frontalness 0.
    """
    import cv2

    S = layers[0].valid.shape[0]
    tex, score = (np.zeros((S, S, 3)), np.zeros((S, S))) if best is None else (best[0].copy(), best[1].copy())
    H, W = point_map.shape[:2]
    inside = cv2.erode((part_map == part).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    for layer in layers:
        v = layer.valid
        if not v.any():
            continue
        p = layer.point[v]
        uvp, z = camera.project(p)
        xi, yi = np.floor(uvp[:, 0]).astype(int), np.floor(uvp[:, 1]).astype(int)
        ok = (z > 0) & (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        xi, yi = np.clip(xi, 0, W - 1), np.clip(yi, 0, H - 1)
        tol = np.maximum(depth_tol, 1.5 / camera.K[1, 1]) * np.maximum(z, 1e-9)  # at least 1.5 pixel footprints
        near = np.linalg.norm(point_map[yi, xi] - p, axis=1) <= tol
        ok &= inside[yi, xi] & near
        view = camera.eye - p
        front = np.abs((layer.normal[v] * view).sum(1)) / np.maximum(np.linalg.norm(view, axis=1), 1e-12)
        front = np.where(ok, front, 0.0)
        col = _bilinear(albedo, uvp[:, 0:1] - 0.5, uvp[:, 1:2] - 0.5)[:, 0]
        ii, jj = np.nonzero(v)
        better = front > score[ii, jj]
        tex[ii[better], jj[better]] = col[better]
        score[ii[better], jj[better]] = front[better]
    return tex, score


def mirror_planes(mesh: Mesh, tol: float = 1e-3) -> list[int]:
    """Axes (0 = x, 1 = y) whose plane through the box centre mirrors the model onto itself."""
    from scipy.spatial import cKDTree

    c = mesh.bounds().mean(0)
    scale = float(np.linalg.norm(mesh.vertices - c, axis=1).max())
    tree = cKDTree(mesh.vertices)
    axes = []
    for ax in (0, 1):
        m = mesh.vertices.copy()
        m[:, ax] = 2 * c[ax] - m[:, ax]
        if tree.query(m)[0].max() <= tol * scale:
            axes.append(ax)
    return axes


def complete_by_symmetry(tex: np.ndarray, score: np.ndarray, layers: list[TexelLayer], axes: list[int],
                         centre: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Fill unseen texels from their mirror images (3D match within ``spacing``, normals agreeing)."""
    from scipy.spatial import cKDTree

    tex, filled = tex.copy(), score > 0
    seen_pts, seen_n, seen_ij = [], [], []
    for layer in layers:
        m = layer.valid & (score > 0)
        seen_pts.append(layer.point[m])
        seen_n.append(layer.normal[m])
        seen_ij.append(np.argwhere(m))
    pts = np.concatenate(seen_pts)
    if not axes or len(pts) == 0:
        return tex, filled
    nrm, ij = np.concatenate(seen_n), np.concatenate(seen_ij)
    tree = cKDTree(pts)
    new = filled.copy()
    for ax in axes:
        for layer in layers:
            m = layer.valid & ~new
            if not m.any():
                continue
            q, qn = layer.point[m].copy(), layer.normal[m].copy()
            q[:, ax] = 2 * centre[ax] - q[:, ax]
            qn[:, ax] = -qn[:, ax]
            d, k = tree.query(q, distance_upper_bound=spacing)
            hit = np.isfinite(d)
            hit[hit] &= (nrm[k[hit]] * qn[hit]).sum(1) > 0.5
            tgt = np.argwhere(m)[hit]
            src = ij[k[hit]]
            tex[tgt[:, 0], tgt[:, 1]] = tex[src[:, 0], src[:, 1]]
            new[tgt[:, 0], tgt[:, 1]] = True
    return tex, new


def largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(row0, col0, rows, cols)`` of the largest all-True axis-aligned rectangle (histogram method)."""
    H, W = mask.shape
    heights = np.zeros(W, int)
    best = (0, 0, 0, 0)
    for r in range(H):
        heights = np.where(mask[r], heights + 1, 0)
        stack: list[int] = []
        for c in range(W + 1):
            h = heights[c] if c < W else 0
            while stack and heights[stack[-1]] >= h:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = heights[top] * (c - left)
                if area > best[2] * best[3]:
                    best = (r - heights[top] + 1, left, int(heights[top]), c - left)
            stack.append(c)
    return best


def complete_by_quilting(tex: np.ndarray, known: np.ndarray, rng: np.random.Generator, *,
                         block: int = 12, fallback=(0.5, 0.5, 0.5)) -> np.ndarray:
    """Fill texels where ``known`` is False: quilting from the largest observed rectangle, else the
    nearest observed texel; a chart with nothing observed gets the ``fallback`` colour."""
    from scipy.ndimage import distance_transform_edt

    from ..texture.quilting import quilt

    if known.all():
        return tex
    if not known.any():
        return np.broadcast_to(np.asarray(fallback, tex.dtype), tex.shape).copy()
    out = tex.copy()
    r0, c0, h, w = largest_rectangle(known)
    b = min(block, h, w)
    if b >= 6:
        ex = tex[r0:r0 + h, c0:c0 + w].astype(np.float32)
        size = max(tex.shape[:2])
        synth, _ = quilt(ex, size, b, max(2, b // 4), 0.1, rng)
        out[~known] = synth[: tex.shape[0], : tex.shape[1]][~known]
        return out
    _, (iy, ix) = distance_transform_edt(~known, return_indices=True)
    return tex[iy, ix]


def chart_lengths(mesh: Mesh, part: int) -> tuple[float, float]:
    """Area-weighted mean metres per UV unit along ``u`` and ``v`` over ``part``'s faces."""
    f = mesh.faces[mesh.face_parts == part] if mesh.face_parts is not None else mesh.faces
    P = mesh.vertices[f]
    U = mesh.uv[f]
    dP = np.stack([P[:, 1] - P[:, 0], P[:, 2] - P[:, 0]], 2)  # F×3×2
    dU = np.stack([U[:, 1] - U[:, 0], U[:, 2] - U[:, 0]], 2)  # F×2×2
    det = dU[:, 0, 0] * dU[:, 1, 1] - dU[:, 0, 1] * dU[:, 1, 0]
    ok = np.abs(det) > 1e-12
    J = dP[ok] @ np.linalg.inv(dU[ok])  # F×3×2: dP/du, dP/dv
    area = np.linalg.norm(np.cross(dP[ok, :, 0], dP[ok, :, 1]), axis=1)
    lu = np.linalg.norm(J[:, :, 0], axis=1)
    lv = np.linalg.norm(J[:, :, 1], axis=1)
    w = area / max(area.sum(), 1e-300)
    return float((lu * w).sum()), float((lv * w).sum())


def resample_for_density(tex: np.ndarray, src_len: tuple[float, float], dst_len: tuple[float, float]) -> np.ndarray:
    """The source chart texture resized in texels so the target keeps its texels per metre."""
    H, W = tex.shape[:2]
    w = max(1, round(W * dst_len[0] / max(src_len[0], 1e-12)))
    h = max(1, round(H * dst_len[1] / max(src_len[1], 1e-12)))
    cols = np.arange(w) % W
    rows_from_bottom = np.arange(h) % (2 * H)
    rows_from_bottom = np.where(rows_from_bottom < H, rows_from_bottom, 2 * H - 1 - rows_from_bottom)
    rows = (H - 1 - rows_from_bottom)[::-1]  # anchor the chart's bottom (v = 0)
    return tex[rows][:, cols]


def pack_parts(mesh: Mesh, textures: dict[int, np.ndarray]) -> Mesh:
    """One texture atlas: part textures left to right (bottom-aligned), UVs remapped into it."""
    parts = sorted(textures)
    Htot = max(textures[p].shape[0] for p in parts)
    widths = [textures[p].shape[1] for p in parts]
    Wtot = int(sum(widths))
    atlas = np.zeros((Htot, Wtot, 3), np.float32)
    uv = mesh.uv.copy()
    x0 = 0
    for p, w in zip(parts, widths, strict=True):
        t = textures[p]
        h = t.shape[0]
        atlas[Htot - h:, x0:x0 + w] = t
        idx = np.unique(mesh.faces[mesh.face_parts == p])
        uv[idx, 0] = (x0 + np.clip(mesh.uv[idx, 0], 0, 1) * w) / Wtot
        uv[idx, 1] = np.clip(mesh.uv[idx, 1], 0, 1) * h / Htot
        x0 += w
    return replace(mesh, uv=uv, texture=np.clip(atlas, 0, 1))
