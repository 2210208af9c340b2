"""Domain randomization: randomized 3D scenes rendered into exactly annotated images (Tremblay et al. 2018).

==================  ===========================================================================
module              what
==================  ===========================================================================
``camera``          the shared pinhole camera (OpenCV axes, pixel i covers [i, i+1), GL matrices)
``primitives``      procedural meshes with UVs: distractor shapes and the built-in classes
``textures``        procedural textures and texture pools from image folders
``scene``           the typed scene config (strict YAML) and the per-image random draw
``gl``              moderngl/EGL renderer: colour + exact instance id + linear depth (MRT)
``annotate``        masks, tight boxes, truncation, occlusion, KITTI 3D fields
``job``             the sharded, resumable render job (``traingen render``)
==================  ===========================================================================

Names load their module on first use (``import traingen.render`` imports neither moderngl nor trimesh).

Example:
    >>> from traingen.render import run_render
    >>> run_render("out/dr", n=16, seed=0, fmt="coco")      # doctest: +SKIP

References:
    Tremblay et al., "Training Deep Networks with Synthetic Data: Bridging the Reality Gap by Domain
    Randomization", CVPRW 2018 (arXiv 1804.06516).
"""

from __future__ import annotations

from ..core.lazy import lazy_attributes

_LAZY = {
    "Camera": ".camera",
    "GLRenderer": ".gl",
    "render_mesh": ".gl",
    "SceneConfig": ".scene",
    "load_scene": ".scene",
    "scene_from_dict": ".scene",
    "sample_scene": ".scene",
    "SceneRenderer": ".job",
    "run_render": ".job",
    "BUILTIN_CLASSES": ".primitives",
    "DISTRACTOR_TYPES": ".primitives",
}
_SUBMODULES = ("camera", "primitives", "textures", "scene", "gl", "annotate", "job")

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, _SUBMODULES)
