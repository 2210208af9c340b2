"""``builtin:dem2relief``: elevation grids -> shaded relief, tiled into 64×64 A|B pairs.

The two digital elevation models matplotlib ships (``jacksboro_fault_dem.npz``, ``topobathy.npz``) are
cut into overlapping 64×64 tiles (stride 16). A is the elevation scaled to 0..255 per tile; B is the
hillshade computed by :func:`hillshade` (Horn's slope and aspect, sun at azimuth 315°, altitude 45°),
the classic relief rendering, with the grids' true cell sizes in metres. Label: the source grid.

References:
    Horn. "Hill shading and the reflectance map", Proc. IEEE 69(1), 1981.
"""

from __future__ import annotations

import numpy as np

from .builtin import DATASETS, DatasetInfo

GRIDS = ("jacksboro_fault_dem", "topobathy")
TILE, STRIDE = 64, 16
M_PER_DEGREE = 111_320.0


def hillshade(z: np.ndarray, *, azimuth: float = 315.0, altitude: float = 45.0, dx: float = 1.0,
              dy: float = 1.0) -> np.ndarray:
    """Lambertian shading of a height field in [0, 1] (edges replicated).

    Args:
        z: H×W heights (rows go south, as in an image).
        azimuth: direction of the sun, degrees clockwise from north.
        altitude: sun elevation above the horizon, degrees.
        dx, dy: cell sizes.

    Returns:
        H×W float64 illumination ``max(0, n · sun)``.
    """
    zp = np.pad(np.asarray(z, np.float64), 1, mode="edge")
    # Horn's 3x3 finite differences (weights 1, 2, 1)
    dzdx = ((zp[:-2, 2:] + 2 * zp[1:-1, 2:] + zp[2:, 2:]) - (zp[:-2, :-2] + 2 * zp[1:-1, :-2] + zp[2:, :-2])) / (8 * dx)
    dzdy = ((zp[2:, :-2] + 2 * zp[2:, 1:-1] + zp[2:, 2:]) - (zp[:-2, :-2] + 2 * zp[:-2, 1:-1] + zp[:-2, 2:])) / (8 * dy)
    # surface normal in (east, north, up); image rows increase southward, so north = -d/drow
    n = np.stack([-dzdx, dzdy, np.ones_like(dzdx)])
    n /= np.linalg.norm(n, axis=0)
    az, alt = np.radians(azimuth), np.radians(altitude)
    sun = np.array([np.sin(az) * np.cos(alt), np.cos(az) * np.cos(alt), np.sin(alt)])
    return np.clip(np.tensordot(sun, n, axes=1), 0.0, 1.0)


def _grid(name: str) -> tuple[np.ndarray, float, float]:
    """Elevation (metres) and the cell sizes in metres (from the grid's degrees: 111,320 m per degree of
    latitude, times cos(latitude) for longitude)."""
    from pathlib import Path

    import matplotlib

    with np.load(Path(matplotlib.get_data_path()) / "sample_data" / f"{name}.npz") as f:
        if "elevation" in f:
            z = np.asarray(f["elevation"], np.float64)
            lat = 0.5 * (float(f["ymin"]) + float(f["ymax"]))
            ddx, ddy = abs(float(f["dx"])), abs(float(f["dy"]))
        else:
            z = np.asarray(f["topo"], np.float64)
            lon, lat_v = np.asarray(f["longitude"], np.float64), np.asarray(f["latitude"], np.float64)
            lat = float(lat_v.mean())
            ddx, ddy = float(np.diff(lon).mean()), float(abs(np.diff(lat_v).mean()))
    return z, ddx * M_PER_DEGREE * np.cos(np.radians(lat)), ddy * M_PER_DEGREE


def _to_u8(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.rint((x - lo) * (255.0 / (hi - lo if hi > lo else 1.0))).astype(np.uint8)


def _load() -> dict[str, np.ndarray]:
    images, labels = [], []
    for g, name in enumerate(GRIDS):
        z, dx, dy = _grid(name)
        shade = hillshade(z, dx=dx, dy=dy)
        for y in range(0, z.shape[0] - TILE + 1, STRIDE):
            for x in range(0, z.shape[1] - TILE + 1, STRIDE):
                a = _to_u8(z[y:y + TILE, x:x + TILE])
                b = np.rint(shade[y:y + TILE, x:x + TILE] * 255).astype(np.uint8)
                images.append(np.repeat(np.concatenate([a, b], axis=1)[..., None], 3, axis=2))
                labels.append(g)
    return {"images": np.stack(images), "labels": np.asarray(labels, np.int64)}


DATASETS.register("dem2relief")(DatasetInfo(
    "dem2relief", "elevation | hillshade, 64x64 tiles side by side (A|B)",
    "matplotlib sample data jacksboro_fault_dem.npz, topobathy.npz; hillshade by traingen",
    "matplotlib sample data (matplotlib licence, PSF-based)", 404, "64x128 RGB (A|B)", GRIDS,
    {}, loader=_load))
