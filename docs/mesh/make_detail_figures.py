"""Figure of docs/mesh/detail_transfer.md (run from the repository root).

    OMP_NUM_THREADS=1 .venv/bin/python docs/mesh/make_detail_figures.py [--source-obj PATH]

The tests' procedural case: a blob whose detail is ``0.01 · sin(2π · 8 · height)`` transferred onto a
held-out blob with learned weights, equal weights and feature-free synthesis. Writes ``detail.png``
(row 1: the source's detail map and the three synthesised target maps; row 2: grazing-light renders of
the source, the true detailed target and the learned transfer, and the plain target) and prints the
weights and correlations. ``--source-obj`` also saves the detailed source mesh (for the recipe).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "mesh"))


def _grey(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img[mask], [1, 99])
    g = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    g[~mask] = 0.15
    return np.repeat(g[..., None], 3, 2)


def _grazing(mesh, size: int = 128) -> np.ndarray:
    import torch

    from traingen.mesh.raster_attributes import Attributes
    from traingen.mesh.raster_common import Lighting
    from traingen.mesh.style import render_views
    from traingen.render.camera import Camera

    m = mesh.normalized(1.0)
    d = np.array([1.0, 0.3, -0.12])
    light = Lighting(ambient=0.1, directional=0.9, direction=tuple(d / np.linalg.norm(d)))
    cam = Camera.orbit(2.9, 200.0, 10.0, width=size, height=size, fov_y_deg=40.0)
    with torch.no_grad():
        rgb, _ = render_views(torch.tensor(m.vertices, dtype=torch.float32), torch.tensor(m.faces),
                              Attributes(), [cam], light, (1.0, 1.0, 1.0), "hard")
    return rgb[0].permute(1, 2, 0).clamp(0, 1).numpy()


def main() -> None:
    import cv2
    from test_detail_transfer import detailed, truth

    from traingen.mesh.detail_transfer import DetailConfig, split_detail, transfer_detail
    from traingen.mesh.geometric_features import weld
    from traingen.mesh.io import save_mesh
    from traingen.mesh.procedural import blob
    from traingen.report.grid import make_grid, save_png

    t0 = time.process_time()
    plain = weld(blob(np.random.default_rng(1), subdivisions=4))
    src, d_src = detailed(plain)
    if "--source-obj" in sys.argv:
        save_mesh(src, sys.argv[sys.argv.index("--source-obj") + 1])
    print(f"split    corr {np.corrcoef(split_detail(src)[1], d_src)[0, 1]:.3f}")
    tgt = weld(blob(np.random.default_rng(2), subdivisions=4))
    true_tgt, _ = detailed(tgt)
    maps, res_learned = [], None
    for mode in ("learned", "equal", "none"):
        res = transfer_detail(src, tgt, DetailConfig(size=128, weights=mode), seed=0)
        c = float(np.corrcoef(res.vertex_displacement, truth(tgt))[0, 1])
        print(f"{mode:8s} corr {c:.3f} weights {({k: round(v, 3) for k, v in res.weights.items() if v > 0.005})}")
        maps.append(_grey(res.displacement, res.mask))
        res_learned = res_learned or res
    own = transfer_detail(src, plain, DetailConfig(size=128), seed=0)
    print(f"self     corr {np.corrcoef(own.vertex_displacement, truth(plain))[0, 1]:.3f}")
    src_map = _grey(res_learned.source_detail_map, res_learned.source_detail_map != 0)
    renders = [_grazing(m) for m in (src, true_tgt, res_learned.mesh, tgt)]
    row1 = [cv2.resize(x.astype(np.float32), (128, 128), interpolation=cv2.INTER_NEAREST) for x in [src_map, *maps]]
    save_png(HERE / "detail.png", make_grid([row1, renders], pad=2))
    print(f"wrote {HERE / 'detail.png'} in {time.process_time() - t0:.1f} s CPU")


if __name__ == "__main__":
    main()
