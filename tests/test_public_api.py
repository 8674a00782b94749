"""The library's front door: small public API, light import, rooms with clear doors."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import synthgen

PACKAGE = Path(synthgen.__file__).parent


def test_import_synthgen_loads_neither_blender_nor_torch() -> None:
    code = "import sys, synthgen; print(sorted(m for m in ('bpy', 'torch', 'diffusers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_name_in_all_resolves() -> None:
    for name in synthgen.__all__:
        assert getattr(synthgen, name) is not None, name


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions) by one source file."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_render_package_imports_bpy_and_only_the_trainer_imports_torch() -> None:
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        imports = _top_level_imports(path)
        if not relative.startswith("render/"):
            assert not imports & {"bpy", "mathutils", "bpy_extras"}, relative
        if not relative.startswith("trainer/"):
            assert not imports & {"torch", "diffusers", "peft", "transformers", "accelerate"}, relative


def test_generate_dataset_stays_a_function_after_its_module_is_imported() -> None:
    import synthgen.generate  # the submodule import is the point

    assert callable(synthgen.generate_dataset) and not hasattr(synthgen.generate_dataset, "__path__")
    assert synthgen.generate_dataset.__name__ == "generate"
