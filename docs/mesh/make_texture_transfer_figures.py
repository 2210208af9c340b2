"""Figures of docs/mesh/texture_transfer.md (run from the repository root).

    OMP_NUM_THREADS=1 .venv/bin/python docs/mesh/make_texture_transfer_figures.py

Writes ``texture_transfer_synthetic.png`` (the tests' synthetic photos: photo, recovered albedo,
re-render; truth and recovered body chart with the observed texels; row 1 in-collection with the smooth
texture, row 2 the held-out shape with the geometry-independent texture, excluded pixels magenta) and ``texture_transfer_coffee.png``
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
    from test_texture_transfer import CFG, independent_texture, make_photo, truth_texture

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
    rows = [[img, r.albedo, r.rerender, big(truth_texture(0)), big(shown)]]
    print(f"synthetic: pose error {view_angle_error(r.alignment.pose, pose):.2f} deg, IoU {r.alignment.iou:.3f}, "
          f"body albedo {psnr(rec, truth_texture(0), obs):.2f} dB on {obs.mean():.1%} observed texels, "
          f"re-render {r.rerender_psnr:.2f} dB, {time.time() - t0:.1f} s")
    # The exact condition: shape held out of the collection, geometry-independent texture. The
    # pixels the part-colour test excluded (model handle over the photo's body) are painted magenta.
    t2 = time.time()
    truth, pose, cam, img, mask, unlit = make_photo(100, independent_texture())
    held = [family_member("cup", np.random.default_rng(k)) for k in (1, 2, 3)]
    res = transfer_texture([Photo(img, mask)], held, CFG)
    r = res.photos[0]
    obs, rec = res.observed[0], res.part_textures[0]
    marked = np.where(r.excluded[..., None], [1.0, 0.0, 1.0], r.albedo)
    rows.append([img, marked, r.rerender, big(independent_texture()), big(np.where(obs[..., None], rec, rec * 0.35))])
    save_png(HERE / "texture_transfer_synthetic.png", make_grid(rows))
    print(f"held-out, independent texture: pose error {view_angle_error(r.alignment.pose, pose):.2f} deg, "
          f"{int(r.excluded.sum())} pixels excluded, body albedo {psnr(rec, independent_texture(), obs):.2f} dB, "
          f"re-render {r.rerender_psnr:.2f} dB, {time.time() - t2:.1f} s")

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
