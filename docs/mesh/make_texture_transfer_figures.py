"""Figures of docs/mesh/texture_transfer.md (run from the repository root).

    OMP_NUM_THREADS=1 .venv/bin/python docs/mesh/make_texture_transfer_figures.py

Writes ``texture_transfer_synthetic.png`` (the tests' synthetic photo: photo, recovered albedo,
re-render; truth and recovered body chart with the observed texels) and ``texture_transfer_coffee.png``
(the coffee photo onto four procedural cups), and prints the measured numbers.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "mesh"))


def main() -> None:
    import cv2
    from test_texture_transfer import CFG, make_photo, truth_texture

    from traingen.data import open_source
    from traingen.mesh.builtin import load_mesh
    from traingen.mesh.procedural import family_member
    from traingen.mesh.texture_pose import view_angle_error
    from traingen.mesh.texture_transfer import Photo, psnr, render_textured, transfer_texture
    from traingen.render.camera import Camera
    from traingen.report.grid import make_grid, save_png

    t0 = time.time()
    truth, pose, cam, img, mask, unlit = make_photo(100)
    coll = [family_member("cup", np.random.default_rng(k)) for k in (1, 100, 3)]
    res = transfer_texture([Photo(img, mask)], coll, CFG)
    r = res.photos[0]
    obs = res.observed[0]
    rec = res.part_textures[0]
    shown = np.where(obs[..., None], rec, rec * 0.35)
    big = lambda a: cv2.resize(a.astype(np.float32), (128, 128), interpolation=cv2.INTER_NEAREST)  # noqa: E731
    save_png(HERE / "texture_transfer_synthetic.png",
             make_grid([[img, r.albedo, r.rerender, big(truth_texture(0)), big(shown)]]))
    print(f"synthetic: pose error {view_angle_error(r.alignment.pose, pose):.2f} deg, IoU {r.alignment.iou:.3f}, "
          f"body albedo {psnr(rec, truth_texture(0), obs):.2f} dB on {obs.mean():.1%} observed texels, "
          f"re-render {r.rerender_psnr:.2f} dB, {time.time() - t0:.1f} s")

    t1 = time.time()
    photo = open_source("builtin:photos/coffee")[0].image.astype(np.float32) / 255.0
    k = 128 / max(photo.shape[:2])
    photo = cv2.resize(photo, (round(photo.shape[1] * k), round(photo.shape[0] * k)), interpolation=cv2.INTER_AREA)
    cups = [load_mesh(f"builtin:mesh/cup/{i}") for i in range(4)]
    res = transfer_texture([Photo(photo)], cups, CFG)
    r = res.photos[0]
    rows = [[photo, np.repeat(r.mask[..., None], 3, 2), r.albedo, r.rerender]]
    views = []
    for m in res.textured:
        c = m.bounds().mean(0)
        rad = float(np.linalg.norm(m.vertices - c, axis=1).max())
        views.append(render_textured(m, Camera.orbit(3.2 * rad, 200, 20.0, target=tuple(c), width=96, height=96,
                                                     fov_y_deg=40.0)))
    rows.append(views)
    save_png(HERE / "texture_transfer_coffee.png", make_grid(rows, cell=96))
    print(f"coffee: model {res.source_index}, IoU {r.alignment.iou:.3f}, re-render {r.rerender_psnr:.2f} dB, "
          f"{time.time() - t1:.1f} s")


if __name__ == "__main__":
    main()
