"""``synthgen info``: versions of synthgen and its dependencies, which extras are installed, and which render
engines work here."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import subprocess
import sys

from synthgen.extras import installed_extras

PACKAGES = (
    "synthgen",
    "bpy",
    "numpy",
    "pyarrow",
    "pydantic",
    "hydra-core",
    "av",
    "soundfile",
    "torch",
    "diffusers",
    "peft",
    "transformers",
    "accelerate",
    "ray",
)

# Each engine is probed in a fresh interpreter: a failing GPU backend can abort Blender's process.
_PROBE = """
import json, sys, bpy
engine, device = sys.argv[1], sys.argv[2]
scene = bpy.context.scene
ok, detail = True, ""
try:
    scene.render.engine = engine
    if engine == "CYCLES" and device != "CPU":
        prefs = bpy.context.preferences.addons["cycles"].preferences
        prefs.compute_device_type = device
        prefs.refresh_devices()
        devices = [d.name for d in prefs.devices if d.type == device]
        ok, detail = bool(devices), ", ".join(devices) or "no device"
except Exception as err:
    ok, detail = False, str(err).splitlines()[0]
print(json.dumps({"ok": ok, "detail": detail}))
"""

ENGINES = (
    ("CYCLES", "CPU"),
    ("CYCLES", "CUDA"),
    ("CYCLES", "OPTIX"),
    ("BLENDER_EEVEE", "GPU"),
    ("BLENDER_WORKBENCH", "GPU"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--no-engines", action="store_true", help="skip probing render engines (fast)")


def package_versions() -> dict[str, str]:
    """Installed version of each package synthgen depends on ('not installed' when absent)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def probe_engine(engine: str, device: str, timeout_s: float = 60.0) -> tuple[bool, str]:
    """Whether Blender accepts ``engine`` (and finds a ``device`` for Cycles GPU) on this machine."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, engine, device],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"probe timed out after {timeout_s:.0f} s"
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            return bool(result["ok"]), str(result["detail"])
    return False, (out.stderr.strip().splitlines() or ["bpy failed to start"])[-1]


def run(args: argparse.Namespace) -> int:
    extras = installed_extras()
    report: dict[str, object] = {
        "python": platform.python_version(),
        "packages": package_versions(),
        "extras": extras,
    }
    if not args.no_engines and extras["render"]:  # without bpy every probe would fail the same way
        report["engines"] = {
            f"{engine.lower()}/{device.lower()}": dict(
                zip(("available", "detail"), probe_engine(engine, device), strict=True)
            )
            for engine, device in ENGINES
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'python':<13} {report['python']}")
    for name, version in package_versions().items():
        print(f"{name:<13} {version}")
    for extra, present in extras.items():
        hint = "" if present else f"  (pip install 'synthgen[{extra}]')"
        print(f"extra {extra:<24} {'yes' if present else 'no'}{hint}")
    for name, result in dict(report.get("engines", {})).items():  # type: ignore[call-overload]
        state = "yes" if result["available"] else "no"
        detail = f"  ({result['detail']})" if result["detail"] else ""
        print(f"engine {name:<22} {state}{detail}")
    return 0
