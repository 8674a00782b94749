"""The library's front door: small public API, light import, rooms with clear doors."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import synthgen

ROOT = Path(__file__).resolve().parents[1]
# Source folder -> import name. scenes/, trainer/ and conf/ sit at the top of the checkout (the card's layout)
# and install as synthgen.scenes, synthgen.trainer and synthgen.conf.
SOURCES = {
    ROOT / "synthgen": "synthgen",
    ROOT / "scenes": "synthgen.scenes",
    ROOT / "trainer": "synthgen.trainer",
}

# The rooms in data-flow order (docs/architecture.md): a room may import rooms of a lower rank only.
RANK = {
    "errors": 0,
    "fileio": 0,
    "extras": 0,
    "describe": 1,
    "scenes": 1,
    "audio": 2,
    "labels": 3,
    "render": 4,
    "controls": 5,
    "dataset": 6,
    # Scores videos against decoded ClipRows (numpy + OpenCV); the pipeline, CLI and trainer call it.
    "adherence": 6.5,
    "pipeline": 7,
    "cli": 8,
    "trainer": 9,
}
# Imports against the flow, each inside a function and for a stated reason. Adding one is a design decision.
LATE_IMPORTS = {
    # load_generate_config validates the control job's parameters and lint thresholds at the boundary.
    ("describe", "controls"),
    ("describe", "dataset"),
    # snapped_bpm: whether a tempo fits the frame rate is checked at config load.
    ("describe", "audio"),
    # `python -m synthgen.dataset.testing` runs a real generation job on synthetic rows.
    ("dataset", "pipeline"),
}


def test_import_synthgen_loads_neither_blender_nor_torch() -> None:
    code = "import sys, synthgen; print(sorted(m for m in ('bpy', 'torch', 'diffusers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_name_in_all_resolves() -> None:
    for name in synthgen.__all__:
        assert getattr(synthgen, name) is not None, name


def _sources() -> list[tuple[Path, str]]:
    """(file, module name) of every source file of the package, mapped folders included."""
    out = []
    for folder, package in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.append((path, ".".join((package, *parts))))
    return out


def _imports(path: Path, module: str, *, top_level_only: bool) -> set[str]:
    """Absolute names of the modules one file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "synthgen" and len(parts) > 1 else None


def test_the_mapped_source_folders_are_the_imported_packages() -> None:
    import synthgen.conf
    import synthgen.scenes
    import synthgen.trainer

    assert Path(synthgen.scenes.__file__).parent == ROOT / "scenes"
    assert Path(synthgen.trainer.__file__).parent == ROOT / "trainer"
    assert Path(synthgen.conf.__file__).parent == ROOT / "conf"


def test_only_the_render_package_imports_bpy_and_only_the_trainer_imports_torch() -> None:
    for path, module in _sources():
        imports = {name.split(".")[0] for name in _imports(path, module, top_level_only=True)}
        room = _room(module)
        if room != "render":
            assert not imports & {"bpy", "mathutils", "bpy_extras"}, module
        if room != "trainer":
            assert not imports & {"torch", "diffusers", "peft", "transformers", "accelerate"}, module


def test_data_flows_one_way_between_rooms() -> None:
    for path, module in _sources():
        source = _room(module)
        if source is None or source not in RANK:  # the package's own __init__ is the facade over every room
            assert module == "synthgen", f"{module}: a room missing from RANK"
            continue
        for late in (False, True):
            for name in _imports(path, module, top_level_only=not late):
                target = _room(name)
                if target is None or target == source:
                    continue
                assert target in RANK, f"{module} imports {name}: a room missing from RANK"
                if RANK[target] < RANK[source] or (late and (source, target) in LATE_IMPORTS):
                    continue
                assert RANK[target] == RANK[source] and target != source, (
                    f"{module} imports {name}: {source} may not import {target} (docs/architecture.md)"
                )


def test_generate_dataset_stays_a_function_after_its_module_is_imported() -> None:
    import synthgen.pipeline.job  # the submodule import is the point

    assert callable(synthgen.generate_dataset) and not hasattr(synthgen.generate_dataset, "__path__")
    assert synthgen.generate_dataset.__name__ == "generate"
