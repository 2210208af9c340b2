"""The Cycles renderer object: a ``bpy`` scene built once, re-posed per image (the optional ``[blender]`` backend).

:class:`BlenderRenderer` mirrors :class:`~traingen.render.gl.GLRenderer`'s interface (``add_mesh``,
``set_textures``, ``set_backgrounds``, ``render``) so the render job can hand it the very draws it hands
the GL renderer. Meshes, texture images and a fixed pool of object slots (each with its own material) are
created once; each image only re-links slot meshes, sets matrices, material values, lights and the camera,
so no datablock is created per image and memory stays flat. The conversions it relies on (camera, light
power, background, compositing) are the pure functions of :mod:`traingen.render.blender`.

Per slot, the material is ``UV -> Mapping(scale su, sv; rotation angle; location du, dv) -> Image texture
(repeat) × tint -> Principled BSDF``: the UV transform of the GL shader, ``M · uv + o`` with
``M = R(angle) · diag(su, sv)``.

Example:
    >>> from traingen.render.primitives import cube
    >>> r = BlenderRenderer(64, 64, samples=4)                               # doctest: +SKIP
    >>> r.add_mesh("cube", cube(1.0))                                        # doctest: +SKIP
    >>> frame = r.render(Camera.orbit(4.0, 30, 20, width=64, height=64),
    ...                  [{"mesh": "cube", "model": np.eye(4), "id": 1}])    # doctest: +SKIP
    >>> frame.rgb.shape, frame.alpha.shape                                   # doctest: +SKIP
    ((64, 64, 3), (64, 64))

References:
    Blender 4.5 Python API: ``bpy.types.Mesh`` (``from_pydata``, ``normals_split_custom_set_from_vertices``),
    ``ShaderNodeMapping`` (point: ``R · (S · v) + T``), ``CyclesRenderSettings``. See
    :mod:`traingen.render.blender` for the papers.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import TraingenError
from .blender import (
    MAX_LIGHTS,
    CyclesFrame,
    background_image,
    blender_camera,
    composite,
    import_bpy,
    point_light,
    quiet_fds,
)
from .camera import Camera
from .primitives import MeshData, ground_plane


class BlenderRenderer:
    """A Cycles (CPU) scene holding uploaded meshes, texture images, object slots and lights.

    Args:
        width, height: image size in pixels.
        samples: Cycles samples per pixel (the bench uses 4 and 16).
        denoise: run OpenImageDenoise on the result (off: the raw path-traced estimate).
        threads: CPU threads Cycles may use (1 per worker, as the GL workers).
        max_bounces: light-path depth (diffuse and glossy bounces are capped at 2 below it).
        slots: object slots (objects + distractors + ground per image); more draws is an error.

    Only one per process: it resets Blender to an empty factory scene.
    """

    def __init__(self, width: int, height: int, *, samples: int = 16, denoise: bool = False, threads: int = 1,
                 max_bounces: int = 4, slots: int = 96):
        bpy = self.bpy = import_bpy()
        self.width, self.height = int(width), int(height)
        with quiet_fds():
            bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = self.scene = bpy.context.scene
        r = scene.render
        r.engine = "CYCLES"
        r.resolution_x, r.resolution_y, r.resolution_percentage = self.width, self.height, 100
        r.film_transparent = True
        r.threads_mode, r.threads = "FIXED", max(1, int(threads))
        r.use_persistent_data = True  # keeps the BVH and images between renders of this process
        r.image_settings.file_format = "PNG"
        r.image_settings.color_mode = "RGBA"
        r.image_settings.color_depth = "16"
        r.image_settings.compression = 0
        scene.view_settings.view_transform = "Raw"
        scene.view_settings.look = "None"
        c = scene.cycles
        c.device = "CPU"
        c.samples = max(1, int(samples))
        c.use_adaptive_sampling = False
        c.use_denoising = bool(denoise)
        c.max_bounces = int(max_bounces)
        c.diffuse_bounces = c.glossy_bounces = min(2, int(max_bounces))
        c.transmission_bounces = c.volume_bounces = 0
        c.caustics_reflective = c.caustics_refractive = False
        world = bpy.data.worlds.new("ambient")
        world.use_nodes = True
        self.world_bg = world.node_tree.nodes["Background"]
        scene.world = world
        cam_data = bpy.data.cameras.new("camera")
        cam_data.sensor_fit = "VERTICAL"
        self.camera = bpy.data.objects.new("camera", cam_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera
        self.lights = []
        for i in range(MAX_LIGHTS):
            ld = bpy.data.lights.new(f"light{i}", "POINT")
            ld.shadow_soft_size = 0.1
            obj = bpy.data.objects.new(f"light{i}", ld)
            scene.collection.objects.link(obj)
            self.lights.append(obj)
        self.meshes: dict[str, Any] = {}
        self.textures: list[Any] = []
        self.backgrounds: np.ndarray = np.zeros((1, 4, 4, 3), np.uint8)
        self.placeholder = bpy.data.materials.new("placeholder")
        self.empty_mesh = bpy.data.meshes.new("empty")  # slot objects are mesh objects from the start
        self.empty_mesh.materials.append(self.placeholder)
        self.slots = [self._make_slot(i) for i in range(int(slots))]
        self.add_mesh("ground", ground_plane())
        self.set_textures(np.full((1, 4, 4, 3), 255, np.uint8))
        self.tmp = Path(tempfile.mkdtemp(prefix="traingen-cycles-"))

    # ------------------------------------------------------------------ set-up (once)
    def _make_slot(self, i: int):
        bpy = self.bpy
        mat = bpy.data.materials.new(f"slot{i}")
        mat.use_nodes = True
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        bsdf = nodes["Principled BSDF"]
        bsdf.inputs["Roughness"].default_value = 0.5
        coord = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        mapping.vector_type = "POINT"
        tex = nodes.new("ShaderNodeTexImage")
        tex.interpolation, tex.extension = "Linear", "REPEAT"
        tint = nodes.new("ShaderNodeMix")
        tint.data_type, tint.blend_type = "RGBA", "MULTIPLY"
        tint.inputs["Factor"].default_value = 1.0
        links.new(coord.outputs["UV"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        links.new(tex.outputs["Color"], tint.inputs[6])  # A (colour)
        links.new(tint.outputs[2], bsdf.inputs["Base Color"])  # Result (colour)
        obj = bpy.data.objects.new(f"slot{i}", self.empty_mesh)
        return {"object": obj, "material": mat, "mapping": mapping, "texture": tex, "tint": tint, "mesh": None}

    def add_mesh(self, key: str, mesh: MeshData) -> None:
        """Create a Blender mesh from ``mesh`` (positions, per-vertex normals kept as custom normals, UVs)."""
        bpy = self.bpy
        v = np.asarray(mesh.vertices, np.float64)
        f = np.asarray(mesh.faces, np.int64)
        me = bpy.data.meshes.new(f"mesh:{key}")
        me.from_pydata(v.tolist(), [], f.tolist())
        uv = me.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", np.asarray(mesh.uvs, np.float32)[f.reshape(-1)].ravel())
        me.polygons.foreach_set("use_smooth", np.ones(len(f), bool))
        me.normals_split_custom_set_from_vertices(np.asarray(mesh.normals, np.float32).tolist())
        me.materials.append(self.placeholder)
        me.update()
        if key in self.meshes:
            old = self.meshes.pop(key)
            for s in self.slots:
                if s["mesh"] == key:
                    s["object"].data, s["mesh"] = me, key
            bpy.data.meshes.remove(old)
        self.meshes[key] = me

    def _image(self, name: str, layer: np.ndarray):
        bpy = self.bpy
        h, w = layer.shape[:2]
        img = bpy.data.images.new(name, w, h, alpha=False)
        img.colorspace_settings.name = "Non-Color"  # bytes are linear values, as in the GL shader
        rgba = np.ones((h, w, 4), np.float32)
        rgba[..., :3] = layer[..., :3].astype(np.float32) / 255.0  # row 0 of the pool at v = 0, as in GL
        img.pixels.foreach_set(rgba.ravel())
        img.pack()
        return img

    def set_textures(self, pool: np.ndarray) -> None:
        """Object textures: an N×S×S×3 uint8 stack (layer = a draw's ``layer``)."""
        for img in self.textures:
            self.bpy.data.images.remove(img)
        self.textures = [self._image(f"texture{i}", layer) for i, layer in enumerate(np.asarray(pool, np.uint8))]

    def set_backgrounds(self, pool: np.ndarray) -> None:
        """Background textures (composited behind the transparent film, as GL draws them)."""
        self.backgrounds = np.ascontiguousarray(pool, np.uint8)

    # ------------------------------------------------------------------ per image
    def _set_camera(self, camera: Camera) -> None:
        from mathutils import Matrix

        bc = blender_camera(camera)
        data = self.camera.data
        data.lens, data.sensor_height = bc.lens, bc.sensor_height
        data.shift_x, data.shift_y = bc.shift_x, bc.shift_y
        data.clip_start, data.clip_end = bc.clip_start, bc.clip_end
        self.camera.matrix_world = Matrix(bc.matrix_world.tolist())

    def _set_slot(self, slot: dict, draw: dict[str, Any]) -> None:
        from mathutils import Matrix

        obj = slot["object"]
        if slot["mesh"] != draw["mesh"]:
            obj.data = self.meshes[draw["mesh"]]
            slot["mesh"] = draw["mesh"]
            obj.material_slots[0].link = "OBJECT"
            obj.material_slots[0].material = slot["material"]
        if obj.name not in self.scene.collection.objects:
            self.scene.collection.objects.link(obj)
        obj.matrix_world = Matrix(np.asarray(draw["model"], np.float64).tolist())
        su, sv, ang, du, dv = (float(x) for x in draw.get("uv", (1.0, 1.0, 0.0, 0.0, 0.0)))
        m = slot["mapping"].inputs
        m["Location"].default_value = (du, dv, 0.0)
        m["Rotation"].default_value = (0.0, 0.0, ang)
        m["Scale"].default_value = (su, sv, 1.0)
        slot["texture"].image = self.textures[int(draw.get("layer", 0)) % len(self.textures)]
        slot["tint"].inputs[7].default_value = (*(float(x) for x in draw.get("tint", (1.0, 1.0, 1.0))), 1.0)

    def render(self, camera: Camera, draws: list[dict[str, Any]], *, lights: np.ndarray | None = None,
               ambient=(0.3, 0.3, 0.3), background: tuple[int, tuple] | None = None,
               seed: int = 0) -> CyclesFrame:
        """Path-trace one image of the draws (same arguments as :meth:`GLRenderer.render`, plus ``seed``).

        Returns:
            CyclesFrame: ``rgb`` with the background composited behind Cycles' alpha, row 0 at the top.
        """
        if (camera.width, camera.height) != (self.width, self.height):
            raise TraingenError(f"camera is {camera.width}x{camera.height}, renderer {self.width}x{self.height}",
                                where="render.blender", field="camera")
        if len(draws) > len(self.slots):
            raise TraingenError(f"{len(draws)} draws but only {len(self.slots)} object slots",
                                where="render.blender", field="slots")
        self._set_camera(camera)
        for slot, d in zip(self.slots, draws, strict=False):
            self._set_slot(slot, d)
        coll = self.scene.collection.objects
        for slot in self.slots[len(draws):]:
            if slot["object"].name in coll:
                coll.unlink(slot["object"])
        if lights is None:
            lights = np.array([[*camera.eye + [0, 0, 5.0], 1.0, 1.0, 1.0]])
        lights = np.asarray(lights, np.float64).reshape(-1, 6)[:MAX_LIGHTS]
        for i, obj in enumerate(self.lights):
            on = i < len(lights)
            obj.hide_render = not on
            if on:
                colour, watts = point_light(lights[i])
                obj.location = tuple(float(x) for x in lights[i, :3])
                obj.data.color, obj.data.energy = colour, watts
        self.world_bg.inputs["Color"].default_value = (*(float(a) for a in ambient), 1.0)
        self.world_bg.inputs["Strength"].default_value = 1.0
        self.scene.cycles.seed = int(seed) & 0x7FFFFFFF
        path = self.tmp / "frame.png"
        self.scene.render.filepath = str(path)
        with quiet_fds():
            self.bpy.ops.render.render(write_still=True)
        import cv2

        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.shape[:2] != (self.height, self.width):
            raise TraingenError("Cycles wrote no image", where=str(path))
        rgba = cv2.cvtColor(raw, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 65535.0
        bl, buv = background if background is not None else (0, (1.0, 1.0, 0.0, 0.0, 0.0))
        bg = background_image(self.backgrounds[int(bl) % len(self.backgrounds)], buv, self.width, self.height)
        return CyclesFrame(composite(rgba, bg), rgba[..., 3].copy())

    def replace_colour(self, frame, draw, draws: list[dict[str, Any]], *, seed: int = 0):
        """``frame`` (a GL :class:`~traingen.render.gl.Frame`) with its colour path-traced by Cycles from the same
        draws; ids and depth -- hence every label -- stay GL's."""
        import dataclasses

        out = self.render(draw.camera, draws, lights=draw.lights, ambient=draw.ambient, background=draw.background,
                          seed=seed)
        return dataclasses.replace(frame, rgb=out.rgb)

    def release(self) -> None:
        """Remove the temporary folder (the bpy scene lives as long as the process)."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def cycles_for_scene(cfg, catalogue, textures: np.ndarray, backgrounds: np.ndarray) -> BlenderRenderer:
    """A :class:`BlenderRenderer` for a scene config (its ``renderer`` section), with the catalogue's meshes
    and the texture pools the GL renderer got."""
    rc = cfg.renderer
    slots = cfg.objects.count[1] + cfg.distractors.count[1] + 1
    r = BlenderRenderer(cfg.width, cfg.height, samples=rc.samples, denoise=rc.denoise, threads=rc.threads,
                        slots=slots)
    for key, mesh in catalogue.meshes.items():
        r.add_mesh(key, mesh)
    r.set_textures(textures)
    r.set_backgrounds(backgrounds)
    return r


__all__ = ["BlenderRenderer", "cycles_for_scene"]
