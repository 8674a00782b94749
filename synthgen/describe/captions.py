"""Deterministic captions from a clip spec: subjects, materials, motion, camera, optional trigger word.

The template and word choices come from a generator of their own, ``SeedSequence([dataset_seed,
clip_index, CAPTION_STREAM])``, so a clip's caption never changes and never perturbs the clip's other random
draws. Directions are described as seen by the camera at the start of the clip ("glides left" = moves
towards the image's left edge). The control is named only when the caller passes its phrase (each control
job has one, ``ControlJob.caption_phrase``; the pipeline passes it when ``control.caption.mention_control``
is set).
"""

from __future__ import annotations

import math

import numpy as np

from synthgen.describe.spec import (
    AxisMove,
    BindingSpec,
    CameraSpec,
    ClipSpec,
    CraneMove,
    HandheldShake,
    MaterialSpec,
    ObjectSpec,
    StaticPath,
    ZoomMove,
)

CAPTION_STREAM = 0xCA9
MAX_SUBJECTS = 3

_NOUNS: dict[str, tuple[str, ...]] = {
    "sphere": ("sphere", "ball"),
    "cube": ("cube", "box"),
    "cylinder": ("cylinder",),
    "cone": ("cone",),
    "torus": ("torus", "ring"),
    "monkey": ("monkey head",),
    "plane": ("panel", "flat plate"),
    "mesh": ("object",),
    # procedural shapes, by shape family
    "vessel": ("vase", "vessel", "jar"),
    "rock": ("rock", "stone"),
    "box": ("block", "box"),
    "extrusion": ("cut-out shape", "emblem"),
    "chair": ("chair",),
    "table": ("table",),
}
_TEXTURES: dict[str, str] = {
    "noise": "mottled",
    "voronoi": "speckled",
    "checker": "checkered",
    "wave": "striped",
    "brick": "brick-patterned",
}
_TEMPLATES: tuple[str, ...] = (
    "{subjects} {world} while {camera}.",
    "{subjects}; {camera}.",
    "{world_cap}, {subjects} as {camera}.",
    "{camera_cap} as {subjects}.",
    "{subjects}. {camera_cap}.",
)


def caption_rng(dataset_seed: int, clip_index: int) -> np.random.Generator:
    """The caption's own generator: ``SeedSequence([dataset_seed, clip_index, CAPTION_STREAM])``."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([dataset_seed, clip_index, CAPTION_STREAM]))
    )


def make_caption(spec: ClipSpec, trigger_word: str | None = None, control_phrase: str | None = None) -> str:
    """One English sentence or two describing the clip; equal specs give equal captions.

    ``trigger_word`` is put first, followed by a comma. ``control_phrase`` (e.g. "matching the depth map")
    is appended to the last sentence; without it the control is never named.
    """
    rng = caption_rng(spec.dataset_seed, spec.clip_index)
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    subjects = _join([_object_phrase(obj, spec, rng) for obj in _subjects(spec)]) or "an empty stage"
    camera = camera_phrase(spec.camera, spec.clip.duration_s, rng)
    world = _world_phrase(spec, rng)
    text = template.format(
        subjects=subjects,
        world=world,
        world_cap=_cap(world),
        camera=camera,
        camera_cap=_cap(camera),
    )
    text = _cap(text)
    if spec.audio is not None:
        text = text[:-1] + f", set to a {spec.audio.bpm:.0f} bpm beat."
    if control_phrase:
        text = text[:-1] + f", {control_phrase}."
    if trigger_word:
        text = f"{trigger_word}, {text}"
    return text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _subjects(spec: ClipSpec) -> list[ObjectSpec]:
    """Tracked, moving objects first (they are what the clip is about), then the rest, at most three."""
    ranked = sorted(spec.objects, key=lambda obj: (not obj.dynamic, not obj.tracked, obj.object_id))
    return [obj for obj in ranked if obj.dynamic][:MAX_SUBJECTS] or ranked[:1]


def color_name(rgb: tuple[float, float, float]) -> str:
    """A plain English colour word for a (linear) RGB triple in [0, 1]."""
    r, g, b = (float(c) for c in rgb)
    high, low = max(r, g, b), min(r, g, b)
    saturation = 0.0 if high <= 0 else (high - low) / high
    if high < 0.08:
        return "black"
    if saturation < 0.2:
        return "white" if high > 0.7 else "grey" if high > 0.2 else "dark grey"
    if high == r:
        hue = ((g - b) / (high - low)) % 6.0
    elif high == g:
        hue = (b - r) / (high - low) + 2.0
    else:
        hue = (r - g) / (high - low) + 4.0
    hue_deg = hue * 60.0
    for limit, name in (
        (15, "red"),
        (40, "orange"),
        (70, "yellow"),
        (160, "green"),
        (200, "teal"),
        (255, "blue"),
        (290, "purple"),
        (335, "pink"),
    ):
        if hue_deg < limit:
            return name
    return "red"


def material_phrase(material: MaterialSpec) -> str:
    """Finish, pattern and colour words of a material, e.g. ``matte checkered red``."""
    words = []
    if material.emission_strength > 0.0:
        words.append("glowing")
    if material.metallic >= 0.5:
        words.append("metallic")
    elif material.roughness <= 0.25:
        words.append("glossy")
    elif material.roughness >= 0.6:
        words.append("matte")
    if material.texture != "none":
        words.append(_TEXTURES[material.texture])
    words.append(color_name(material.base_color_rgb))
    return " ".join(words)


def _camera_axes(camera: CameraSpec) -> tuple[np.ndarray, np.ndarray]:
    """Unit right and forward vectors of the camera's base pose in world coordinates (Z up)."""
    forward = np.subtract(camera.look_at_m, camera.position_m).astype(np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    norm = np.linalg.norm(right)
    right = right / norm if norm > 1e-9 else np.array([1.0, 0.0, 0.0])
    return right, forward


def direction_word(displacement_m: np.ndarray, camera: CameraSpec) -> str:
    """The dominant direction of a world displacement as the camera sees it.

    One of ``left``, ``right``, ``towards the camera``, ``away from the camera``, ``upwards``, ``downwards``.
    """
    right, forward = _camera_axes(camera)
    forward_flat = forward - forward[2] * np.array([0.0, 0.0, 1.0])
    if np.linalg.norm(forward_flat) > 1e-9:
        forward_flat /= np.linalg.norm(forward_flat)
    d = np.asarray(displacement_m, dtype=np.float64)
    scores = {
        "right": float(d @ right),
        "away from the camera": float(d @ forward_flat),
        "upwards": float(d[2]),
    }
    axis = max(scores, key=lambda key: abs(scores[key]))
    if scores[axis] >= 0:
        return axis
    return {"right": "left", "away from the camera": "towards the camera", "upwards": "downwards"}[axis]


def _speed_adverb(speed: float, slow: float, fast: float, rng: np.random.Generator) -> str:
    if speed < slow:
        return str(rng.choice(["slowly ", "gently "]))
    if speed > fast:
        return str(rng.choice(["quickly ", "swiftly "]))
    return ""


def _object_phrase(obj: ObjectSpec, spec: ClipSpec, rng: np.random.Generator) -> str:
    noun = str(rng.choice(_NOUNS[obj.shape.kind if obj.shape is not None else obj.primitive]))
    article_phrase = f"{material_phrase(obj.material)} {noun}"
    article = "an" if article_phrase[0] in "aeiou" else "a"
    return f"{article} {article_phrase} {_motion_phrase(obj, spec, rng)}".rstrip()


def _motion_phrase(obj: ObjectSpec, spec: ClipSpec, rng: np.random.Generator) -> str:
    path = obj.path
    duration_s = max(spec.clip.duration_s, 1e-9)
    if isinstance(path, StaticPath):
        motion = str(rng.choice(["rests in place", "sits still", "stays put"]))
    elif path.kind == "circle":
        speed = 2 * math.pi * path.radius_m * abs(path.turns) / duration_s
        motion = _speed_adverb(speed, 0.4, 1.5, rng) + str(
            rng.choice(["circles", "travels in a circle", "loops around"])
        )
    elif path.kind == "lissajous":
        motion = str(rng.choice(["weaves back and forth", "swings in a looping pattern"]))
    elif path.kind == "random_smooth":
        motion = str(rng.choice(["wanders around", "drifts about"]))
    elif path.kind == "physics":
        thrown = any(path.velocity_m_per_s)
        motion = str(
            rng.choice(["is thrown and tumbles to rest", "flies in and bounces"])
            if thrown
            else rng.choice(["drops and settles", "falls to the ground"])
        )
    else:
        points = np.asarray(path.waypoints_m, dtype=np.float64)
        length_m = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
        verb = str(rng.choice(["glides", "moves", "slides", "travels"]))
        direction = direction_word(points[-1] - points[0], spec.camera)
        motion = f"{_speed_adverb(length_m / duration_s, 0.4, 1.5, rng)}{verb} {direction}"
        if path.kind == "piecewise" and any(path.hold_frames):
            motion += ", pausing along the way"
    if obj.orientation.mode == "spin" and any(obj.orientation.spin_deg_per_s):
        motion += " while spinning"
    bindings = [b for b in (spec.audio.bindings if spec.audio else ()) if b.target_id == obj.object_id]
    if bindings:
        motion += " and " + _join([_binding_phrase(b) for b in bindings])
    return motion


_BINDING_VERBS: dict[str, str] = {
    "bounce": "bounces",
    "scale_pulse": "pulses",
    "flash": "flashes",
    "color_downbeat": "changes colour",
    "energy": "swells with the music",
}
_SOURCE_WORDS: dict[str, str] = {
    "beat": "on every beat",
    "downbeat": "on every downbeat",
    "kick": "on the kick drum",
    "snare": "on the snare",
    "hat_closed": "on the hi-hats",
    "hat_open": "on the open hi-hats",
    "clap": "on the claps",
    "energy": "",
}


def _binding_phrase(binding: BindingSpec) -> str:
    verb = _BINDING_VERBS.get(binding.kind, binding.kind.replace("_", " "))
    if binding.kind == "energy":
        return verb
    return f"{verb} {_SOURCE_WORDS[binding.source]}".rstrip()


def camera_phrase(camera: CameraSpec, duration_s: float, rng: np.random.Generator) -> str:
    """What the camera does, e.g. ``the camera slowly orbits right``; ``a fixed camera watches`` if static."""
    moves = [m for m in camera.moves if not isinstance(m, HandheldShake)]
    handheld = any(isinstance(m, HandheldShake) for m in camera.moves)
    if not moves:
        base = str(
            rng.choice(["the camera stays fixed", "the camera holds still", "a locked-off camera watches"])
        )
        return base.replace("the camera", "a handheld camera", 1) if handheld else base
    parts = [_move_phrase(move, duration_s, rng) for move in moves]
    subject = "a handheld camera" if handheld else "the camera"
    return f"{subject} {_join(parts)}"


def _move_phrase(move: AxisMove, duration_s: float, rng: np.random.Generator) -> str:
    span_s = max((move.end - move.start) * duration_s, 1e-9)
    amount = float(move.amount)
    if isinstance(move, ZoomMove):
        return "zooms in" if amount >= 1.0 else "zooms out"
    if isinstance(move, CraneMove):
        return "cranes up" if amount >= 0 else "cranes down"
    slow, fast, positive, negative = _MOVE_WORDS[move.kind]
    adverb = _speed_adverb(abs(amount) / span_s, slow, fast, rng)
    return adverb + (positive if amount >= 0 else negative)


# Per move kind: "slowly" / "quickly" thresholds (metres or degrees per second of the move's span), then
# the phrase for amount >= 0 and for amount < 0. Positive orbit is counter-clockwise seen from above: the
# camera moves towards its own right.
_MOVE_WORDS: dict[str, tuple[float, float, str, str]] = {
    "orbit": (15.0, 60.0, "orbits right", "orbits left"),
    "dolly": (0.5, 2.0, "pushes in", "pulls back"),
    "truck": (0.5, 2.0, "trucks right", "trucks left"),
    "pedestal": (0.5, 2.0, "rises", "lowers"),
    "pan": (10.0, 45.0, "pans left", "pans right"),
    "tilt": (10.0, 45.0, "tilts up", "tilts down"),
    "roll": (10.0, 45.0, "rolls", "rolls"),
}


def _world_phrase(spec: ClipSpec, rng: np.random.Generator) -> str:
    world = spec.world
    if world.background == "sky":
        base = str(rng.choice(["under an open sky", "outdoors under the sky"]))
    else:
        base = f"against a {color_name(world.background_rgb)} backdrop"
    if world.ground and world.ground_material.texture == "checker":
        base += " on a checkered floor"
    return base
