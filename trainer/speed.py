"""Training speed settings for the transformer: gradient checkpointing policy and regional compilation.

Per-block gradient checkpointing recomputes every block's forward in the backward pass (a third more
work). Blocks can instead be left un-checkpointed while memory allows (``uncheckpointed_blocks``), and
checkpointed blocks can keep their attention outputs (``save_attention``: the attention kernel is the most
expensive op to recompute per byte saved). ``compile_blocks`` compiles each transformer block with
``torch.compile`` (regional compilation), which fuses the norms, modulation, RoPE and gating elementwise ops.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

_ATTENTION_OPS = {
    torch.ops.aten._scaled_dot_product_flash_attention.default,
    torch.ops.aten._scaled_dot_product_efficient_attention.default,
    torch.ops.aten._scaled_dot_product_cudnn_attention.default,
}


def _save_attention_policy(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> CheckpointPolicy:
    return CheckpointPolicy.MUST_SAVE if op in _ATTENTION_OPS else CheckpointPolicy.PREFER_RECOMPUTE


class BlockCheckpointing:
    """A ``gradient_checkpointing_func`` for diffusers models that checkpoints only some blocks.

    Blocks whose index (their position in ``transformer_blocks``) is below ``uncheckpointed_blocks`` run
    normally and keep their activations; the others are checkpointed (non-reentrant).
    """

    def __init__(
        self, blocks: torch.nn.ModuleList, uncheckpointed_blocks: int = 0, save_attention: bool = False
    ):
        self.index = {id(block): i for i, block in enumerate(blocks)}
        self.uncheckpointed_blocks = uncheckpointed_blocks
        self.save_attention = save_attention

    def __call__(self, module: torch.nn.Module, *args: Any) -> Any:
        if self.index.get(id(module), len(self.index)) < self.uncheckpointed_blocks:
            return module(*args)
        if self.save_attention:
            context_fn: Callable[[], Any] = partial(
                create_selective_checkpoint_contexts, _save_attention_policy
            )
            return checkpoint(module.__call__, *args, use_reentrant=False, context_fn=context_fn)
        return checkpoint(module.__call__, *args, use_reentrant=False)


def configure_speed(
    transformer: Any,
    *,
    gradient_checkpointing: bool = True,
    uncheckpointed_blocks: int = 0,
    save_attention: bool = False,
    compile_blocks: bool = False,
) -> BlockCheckpointing | None:
    """Apply the checkpointing policy and (optionally) compile the blocks; returns the policy object.

    The policy's ``uncheckpointed_blocks`` may be changed later (e.g. after measuring memory).
    """
    policy = None
    if gradient_checkpointing:
        policy = BlockCheckpointing(transformer.transformer_blocks, uncheckpointed_blocks, save_attention)
        transformer.enable_gradient_checkpointing(gradient_checkpointing_func=policy)
    else:
        transformer.disable_gradient_checkpointing()
    if compile_blocks:
        transformer.compile_repeated_blocks(dynamic=False)
    return policy


def resolve_auto(value: bool | str, device: torch.device) -> bool:
    """A ``true | false | auto`` setting: ``auto`` is on for CUDA devices only (CPU keeps the plain path)."""
    if value == "auto":
        return device.type == "cuda"
    return bool(value)


def adapter_autocast(setting: str, device: torch.device) -> Any:
    """The context for one forward/backward: bfloat16 autocast when ``train.adapter_compute`` asks for it
    (``auto`` = on CUDA). The LoRA weights, their gradients and AdamW's state stay float32 (master weights);
    only the matmuls run in bfloat16, as the frozen base already does."""
    enabled = setting == "bfloat16" or (setting == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
