"""``lora.init_from``: continuing training from an existing IC-LoRA file keeps its update and metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from synthgen.errors import ConfigError
from synthgen.trainer.config import load_train_config
from synthgen.trainer.lora import (
    EXPORT_PREFIX,
    adapter_state_dict,
    add_lora,
    init_from_lora,
    lora_metadata,
    read_lora,
    save_lora,
)
from synthgen.trainer.train import run
from tests.test_trainer_lora import TARGETS, randomise_lora, tiny_prediction, tiny_transformer
from tests.test_trainer_train import cache_dir, quick, squares  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore")


def saved_lora(tmp_path: Path, *, rank: int, alpha: float) -> tuple[Path, torch.Tensor]:
    model = tiny_transformer()
    add_lora(model, rank=rank, alpha=alpha, target_modules=TARGETS)
    randomise_lora(model)
    path = save_lora(
        model, tmp_path / "given.safetensors", rank=rank, alpha=alpha, metadata={"source": "given"}
    )
    return path, tiny_prediction(model)


@pytest.mark.parametrize(("file_alpha", "run_alpha"), [(4.0, 4.0), (8.0, 2.0)])
def test_loaded_file_reproduces_the_prediction_and_exports_its_own_tensors(
    tmp_path: Path, file_alpha: float, run_alpha: float
) -> None:
    path, expected = saved_lora(tmp_path, rank=4, alpha=file_alpha)
    model = tiny_transformer()
    add_lora(model, rank=4, alpha=run_alpha, target_modules=TARGETS)
    init_from_lora(model, path, rank=4, alpha=run_alpha)
    # the file stores bf16; the prediction differs from the source model's only by that rounding
    torch.testing.assert_close(tiny_prediction(model), expected, atol=2e-3, rtol=2e-2)
    again = save_lora(model, tmp_path / "again.safetensors", rank=4, alpha=run_alpha, metadata={})
    original, exported = read_lora(path), read_lora(again)
    assert set(exported) == set(original)
    for key, value in original.items():
        torch.testing.assert_close(exported[key].float(), value.float(), atol=0, rtol=1e-2)


def test_a_file_with_alpha_keys_is_scaled_by_its_alpha(tmp_path: Path) -> None:
    source = tiny_transformer()
    add_lora(source, rank=4, alpha=6.0, target_modules=TARGETS)
    randomise_lora(source)
    expected = tiny_prediction(source)
    tensors: dict[str, torch.Tensor] = {}
    for key, value in adapter_state_dict(source).items():  # unscaled B, like ComfyUI's layout with alpha
        tensors[EXPORT_PREFIX + key] = value.contiguous()
        if ".lora_A." in key:
            tensors[EXPORT_PREFIX + key.split(".lora_A.")[0] + ".alpha"] = torch.tensor(6.0)
    path = tmp_path / "with_alpha.safetensors"
    save_file(tensors, str(path))
    model = tiny_transformer()
    add_lora(model, rank=4, alpha=4.0, target_modules=TARGETS)
    init_from_lora(model, path, rank=4, alpha=4.0)
    torch.testing.assert_close(tiny_prediction(model), expected)


def test_another_rank_or_module_set_is_a_one_line_config_error(tmp_path: Path) -> None:
    path, _ = saved_lora(tmp_path, rank=4, alpha=4.0)
    model = tiny_transformer()
    add_lora(model, rank=2, alpha=2.0, target_modules=TARGETS)
    with pytest.raises(ConfigError, match=r"^lora\.init_from=.*lora\.rank differs"):
        init_from_lora(model, path, rank=2, alpha=2.0)
    other = tiny_transformer()
    add_lora(other, rank=4, alpha=4.0, target_modules=TARGETS[:1])
    with pytest.raises(ConfigError, match=r"^lora\.init_from=.*adapter modules differ"):
        init_from_lora(other, path, rank=4, alpha=4.0)
    with pytest.raises(ConfigError, match=r"^lora\.init_from=.*not a readable safetensors file"):
        init_from_lora(other, tmp_path / "missing.safetensors", rank=4, alpha=4.0)


def test_training_from_a_file_starts_there_and_keeps_its_metadata(
    squares: Path,  # noqa: F811
    cache_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = quick(squares, cache_dir, tmp_path / "first", steps=2)
    run(load_train_config(first))
    given = tmp_path / "first" / "lora.safetensors"
    continued = quick(squares, cache_dir, tmp_path / "second", steps=0)
    continued["lora"] = {"rank": 4, "alpha": 4, "init_from": str(given)}
    run(load_train_config(continued))
    out = tmp_path / "second" / "lora.safetensors"
    original, exported = read_lora(given), read_lora(out)
    assert set(exported) == set(original)
    for key, value in original.items():  # zero steps: the export is the file it started from
        torch.testing.assert_close(exported[key].float(), value.float(), atol=0, rtol=1e-2)
    meta = lora_metadata(out)
    assert meta["init_from"] == "lora.safetensors"
    assert {k: v for k, v in lora_metadata(given).items() if k not in {"steps"}}.items() <= meta.items()
