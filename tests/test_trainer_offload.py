"""Block offload (train.offload_blocks), block-by-block materialisation and the low-VRAM presets: CPU wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from synthgen.trainer.config import load_train_config
from synthgen.trainer.ic import build_ic_batch
from synthgen.trainer.lora import add_lora, lora_parameters
from synthgen.trainer.model import TINY_TRANSFORMER_CONFIG, build_random_by_block
from synthgen.trainer.offload import BlockOffload, block_to_host, map_plain, offloaded_indices
from synthgen.trainer.speed import configure_speed
from synthgen.trainer.step import Conditioning, predict

CONFIG = {**TINY_TRANSFORMER_CONFIG, "num_layers": 4}


def _settings(tmp_path: Path, *overrides: str) -> Any:
    return load_train_config(
        {"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path)}, overrides=overrides
    )


def test_offloaded_blocks_are_the_last_ones() -> None:
    assert offloaded_indices(48, 16) == list(range(32, 48))
    assert offloaded_indices(48, 48) == offloaded_indices(48, 4096) == list(range(48))
    assert offloaded_indices(48, 0) == []


def test_low_vram_presets_compose(tmp_path: Path) -> None:
    small, smaller = (
        _settings(tmp_path, "train=low_vram_32g").train,
        _settings(tmp_path, "train=low_vram_24g").train,
    )
    assert _settings(tmp_path).train.offload_blocks == 0
    for t in (small, smaller):
        assert (t.base_precision, t.optimizer, t.memory_budget_gib, t.save_attention) == (
            "int8_weights",
            "adamw8bit",
            0.0,
            False,
        )
        assert t.gradient_checkpointing and t.uncheckpointed_blocks == 0
    assert (small.offload_blocks, smaller.offload_blocks) == (16, 48)


def test_random_model_is_built_one_block_at_a_time() -> None:
    seen: list[tuple[int, list[str]]] = []

    def prepare(index: int, block: torch.nn.Module) -> None:
        # This block is materialised; the ones after it do not exist yet (still on meta).
        seen.append((index, sorted({p.device.type for p in block.parameters()})))

    transformer = build_random_by_block(CONFIG, "cpu", torch.float32, 0, prepare)
    assert seen == [(i, ["cpu"]) for i in range(4)]
    assert all(p.device.type == "cpu" and torch.isfinite(p).all() for p in transformer.parameters())
    again = build_random_by_block(CONFIG, "cpu", torch.float32, 0)
    assert all(torch.equal(a, b) for a, b in zip(transformer.parameters(), again.parameters(), strict=True))


def _forward_backward(transformer: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    cfg = transformer.config
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(1, cfg.in_channels, 2, 2, 2, generator=g)
    batch = build_ic_batch(
        latents, latents.clone(), fps=24.0, reference_downscale=1, reference_temporal_factor=1, generator=g,
        sigma=torch.tensor([0.5]),
    )  # fmt: skip
    width = cfg.num_attention_heads * cfg.attention_head_dim
    audio_width = cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
    cond = Conditioning(
        text=torch.ones(1, 8, width),
        audio_text=torch.ones(1, 8, audio_width),
        text_mask=None,
        audio_latents=torch.randn(1, 4, cfg.audio_in_channels, generator=g),
        audio_is_reference=False,
    )
    loss = (predict(transformer, batch, cond, fps=24.0) - batch.velocity).pow(2).mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in lora_parameters(transformer)]


def _adapted(offload: list[int]) -> tuple[Any, BlockOffload | None]:
    transformer = build_random_by_block(CONFIG, "cpu", torch.float32, 0)
    for index in offload:
        block_to_host(transformer.transformer_blocks[index])
    # Non-zero B so the adapters' gradients depend on the base weights of every block.
    add_lora(transformer, rank=2, alpha=2.0, target_modules=[r".*attn1\.to_q"], seed=0)
    with torch.no_grad():
        for p in lora_parameters(transformer):
            p.normal_(0.0, 0.1, generator=torch.Generator().manual_seed(p.numel()))
    configure_speed(transformer, gradient_checkpointing=True)
    transformer.train()
    blocks = transformer.transformer_blocks
    return transformer, (BlockOffload(blocks, offload, torch.device("cpu")) if offload else None)


@pytest.mark.parametrize("offload", [[0, 1, 2, 3], [2, 3]])
def test_offloaded_blocks_train_the_same_and_fetch_each_block_once_per_call(offload: list[int]) -> None:
    reference, _ = _adapted([])
    transformer, fetcher = _adapted(offload)
    assert fetcher is not None
    hosts = {
        id(p) for i in offload for p in transformer.transformer_blocks[i].parameters() if not p.requires_grad
    }
    loss, grads = _forward_backward(transformer)
    expected_loss, expected_grads = _forward_backward(reference)
    assert torch.equal(loss, expected_loss)
    assert all(torch.equal(a, b) for a, b in zip(grads, expected_grads, strict=True))
    # Each offloaded block fetched for its forward and once more for its recompute in the backward pass;
    # every prefetch was used (forward: the next block, backward: the previous one).
    assert (fetcher.fetches, fetcher.wasted) == (2 * len(offload), 0)
    # After the step the blocks hold their host copies again; the adapters never left the compute device.
    after = {
        id(p) for i in offload for p in transformer.transformer_blocks[i].parameters() if not p.requires_grad
    }
    assert after == hosts
    assert fetcher.host_bytes() == sum(
        p.numel() * p.element_size()
        for i in offload
        for p in transformer.transformer_blocks[i].parameters()
        if not p.requires_grad
    )


def test_offload_moves_torchao_weights_through_their_inner_tensors() -> None:
    pytest.importorskip("torchao")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    linear = torch.nn.Sequential(torch.nn.Linear(32, 64)).to(torch.bfloat16)
    quantize_(linear, Int8WeightOnlyConfig())
    weight = linear[0].weight
    copy = map_plain(weight, torch.clone)
    assert type(copy) is type(weight) and copy.qdata.data_ptr() != weight.qdata.data_ptr()
    x = torch.randn(3, 32, dtype=torch.bfloat16)
    block_to_host(linear)
    host = linear[0].weight
    assert type(host) is type(weight) and torch.equal(host.qdata, weight.qdata)
    assert torch.equal(torch.nn.functional.linear(x, copy, linear[0].bias), linear(x))
