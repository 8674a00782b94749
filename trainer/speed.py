"""Training speed settings for the transformer: gradient checkpointing policy and regional compilation.

Per-block gradient checkpointing recomputes every block's forward in the backward pass (a third more
work). Blocks can instead be left un-checkpointed while memory allows (``uncheckpointed_blocks``), and
checkpointed blocks can keep their attention outputs (``save_attention``: the attention kernel is the most
expensive op to recompute per byte saved). ``compile_blocks`` compiles each transformer block with
``torch.compile`` (regional compilation), which fuses the norms, modulation, RoPE and gating elementwise ops.

``train.memory_budget_gib`` chooses both from measurement rather than a guess. The first optimizer step
runs block 0 un-checkpointed, block 1 checkpointed keeping its attention outputs and block 2 plainly
checkpointed, and records how much memory each one's forward keeps for the backward pass (the allocator's
growth across the block). The differences are what keeping attention, and keeping a whole block, cost per
block. With the step's peak and the memory it left behind (optimizer state), :func:`plan_within_budget`
spends the budget where it saves the most recompute per byte: attention outputs first (the attention kernel
is the most expensive op per byte kept), then whole blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch.utils.checkpoint import CheckpointPolicy, checkpoint, create_selective_checkpoint_contexts

from synthgen.errors import ConfigError

_ATTENTION_OPS = {
    torch.ops.aten._scaled_dot_product_flash_attention.default,
    torch.ops.aten._scaled_dot_product_efficient_attention.default,
    torch.ops.aten._scaled_dot_product_cudnn_attention.default,
}


def _save_attention_policy(ctx: Any, op: Any, *args: Any, **kwargs: Any) -> CheckpointPolicy:
    return CheckpointPolicy.MUST_SAVE if op in _ATTENTION_OPS else CheckpointPolicy.PREFER_RECOMPUTE


class BlockCheckpointing:
    """A ``gradient_checkpointing_func`` for diffusers models that checkpoints only some blocks.

    By index (position in ``transformer_blocks``): blocks below ``uncheckpointed_blocks`` run normally and
    keep their activations; the next ``attention_blocks`` are checkpointed keeping their attention outputs;
    the rest are checkpointed plainly (non-reentrant). While ``measuring`` (CUDA only), blocks 0 to 2 run one
    mode each (kept, attention kept, plain) and record the memory their forward keeps in ``kept_bytes``.
    """

    def __init__(
        self, blocks: torch.nn.ModuleList, uncheckpointed_blocks: int = 0, save_attention: bool = False
    ):
        self.index = {id(block): i for i, block in enumerate(blocks)}
        self.uncheckpointed_blocks = uncheckpointed_blocks
        self.attention_blocks = len(blocks) if save_attention else 0
        self.measuring = False
        self.kept_bytes: dict[int, int] = {}

    def __call__(self, module: torch.nn.Module, *args: Any) -> Any:
        index = self.index.get(id(module), len(self.index))
        if self.measuring and index in (0, 1, 2) and index not in self.kept_bytes:
            before = torch.cuda.memory_allocated()
            out = self._run(("kept", "attention", "plain")[index], module, *args)
            self.kept_bytes[index] = torch.cuda.memory_allocated() - before
            return out
        return self._run(self.mode(index), module, *args)

    def mode(self, index: int) -> str:
        """``kept`` (no checkpointing), ``attention`` (checkpointed, attention outputs kept) or ``plain``."""
        if index < self.uncheckpointed_blocks:
            return "kept"
        return "attention" if index < self.uncheckpointed_blocks + self.attention_blocks else "plain"

    @staticmethod
    def _run(mode: str, module: torch.nn.Module, *args: Any) -> Any:
        if mode == "kept":
            return module(*args)
        if mode == "attention":
            context_fn: Callable[[], Any] = partial(
                create_selective_checkpoint_contexts, _save_attention_policy
            )
            return checkpoint(module.__call__, *args, use_reentrant=False, context_fn=context_fn)
        return checkpoint(module.__call__, *args, use_reentrant=False)


@dataclass(frozen=True)
class BudgetMeasurement:
    """What the measuring step saw, in bytes: its peak (block 0 kept, block 1 with attention kept, the rest
    plain), the memory it left allocated beyond what it started with (optimizer state), and the extra memory
    one block costs kept whole and with its attention outputs kept, over a plainly checkpointed block."""

    peak_bytes: int
    step_growth_bytes: int
    kept_block_bytes: int
    attention_block_bytes: int


def plan_within_budget(
    measured: BudgetMeasurement, budget_bytes: float, num_blocks: int, *, save_attention: bool = True
) -> tuple[int, int]:
    """``(uncheckpointed_blocks, attention_blocks)`` that keep a later step's peak within ``budget_bytes``.

    A later step's peak is modelled as the measuring step's peak with its one kept and one attention block
    taken out (every block plain), plus the state that step left behind, plus each block's extra cost for its
    mode. Attention outputs are kept first, in as many blocks as fit (none when ``save_attention`` is false);
    once every block keeps them, whole blocks are kept while the budget allows.
    """
    kept = max(0, measured.kept_block_bytes)
    attention = min(max(0, measured.attention_block_bytes), kept)
    base = measured.peak_bytes + max(0, measured.step_growth_bytes) - kept - attention
    room = budget_bytes - base
    if room < 0:
        return 0, 0
    if save_attention:
        if attention * num_blocks > room:
            return 0, int(room // attention)
        room -= attention * num_blocks
    upgrade = kept - attention if save_attention else kept  # one more block kept whole
    uncheckpointed = num_blocks if upgrade <= 0 else min(num_blocks, int(room // upgrade))
    return uncheckpointed, (num_blocks - uncheckpointed) if save_attention else 0


def configure_speed(
    transformer: Any,
    *,
    gradient_checkpointing: bool = True,
    uncheckpointed_blocks: int = 0,
    save_attention: bool = False,
    compile_blocks: bool = False,
) -> BlockCheckpointing | None:
    """Apply the checkpointing policy and (optionally) compile the blocks; returns the policy object.

    The policy's ``uncheckpointed_blocks`` and ``attention_blocks`` may be changed later (after measuring).
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


def resolve_compile(value: bool | str, base_precision: str, device: torch.device) -> bool:
    """``train.compile``: ``auto`` compiles the blocks on CUDA, except over int8 weight-only base weights,
    whose compiled first step did not finish within 220 s on an H200 (inductor choosing among matmul
    kernels for every int8 linear; LTX-2.3 at 768x768x81 and the tiny preset alike) while the eager step
    runs at 5.2 s (docs/bench_train.md, 2026-12-03). ``true`` compiles whatever the precision."""
    if value == "auto" and base_precision == "int8_weights":
        return False
    return resolve_auto(value, device)


def adapter_autocast(setting: str, device: torch.device) -> Any:
    """The context for one forward/backward: bfloat16 autocast when ``train.adapter_compute`` asks for it
    (``auto`` = on CUDA). The LoRA weights, their gradients and AdamW's state stay float32 (master weights);
    only the matmuls run in bfloat16, as the frozen base already does."""
    enabled = setting == "bfloat16" or (setting == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


# train.base_precision: how the frozen base linears of the transformer blocks are stored and multiplied.
BASE_PRECISIONS = ("bfloat16", "float8", "int8_weights", "float8_weights")


def _is_base_linear(module: torch.nn.Module, name: str, *, video_only: bool = False) -> bool:
    """A frozen linear layer of a transformer block whose sides suit float8/int8 kernels (multiples of 16)."""
    if not isinstance(module, torch.nn.Linear) or not name.startswith("transformer_blocks."):
        return False
    if ".lora_" in name or (video_only and "audio" in name):
        return False
    return module.in_features % 16 == 0 and module.out_features % 16 == 0


def _needs_torchao(precision: str) -> None:
    try:
        import torchao  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"train.base_precision={precision}: needs torchao (pip install 'synthgen[speed]')"
        ) from None


def check_base_precision(precision: str, device: torch.device) -> None:
    """ConfigError (one line) for a ``train.base_precision`` this device or installation cannot run."""
    if precision == "bfloat16":
        return
    if precision not in BASE_PRECISIONS:
        raise ConfigError(f"train.base_precision={precision!r}: must be one of {list(BASE_PRECISIONS)}")
    if precision == "float8" and device.type != "cuda":
        raise ConfigError(
            f"train.base_precision=float8: float8 matmuls need a CUDA GPU (compute capability >= 8.9); this run is on "
            f"{device.type} (use bfloat16, int8_weights or float8_weights)"
        )
    _needs_torchao(precision)


def quantize_block(block: torch.nn.Module, precision: str, prefix: str = "transformer_blocks.0.") -> int:
    """Weight-only 8-bit storage (``int8_weights`` / ``float8_weights``) of one block's linears, where the
    block already is (quantise it on the GPU: seconds, not minutes on the CPU); returns how many changed.
    ``bfloat16`` and ``float8`` (a training-time conversion of the whole model) leave the block alone."""
    if precision not in ("int8_weights", "float8_weights"):
        return 0
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig, quantize_

    config = Int8WeightOnlyConfig() if precision == "int8_weights" else Float8WeightOnlyConfig()
    changed = sum(_is_base_linear(m, prefix + n) for n, m in block.named_modules())
    quantize_(block, config, filter_fn=lambda m, n: _is_base_linear(m, prefix + n))
    return changed


def quantize_base(
    transformer: torch.nn.Module,
    precision: str,
    device: torch.device,
    *,
    after: Callable[[int, torch.nn.Module], Any] | None = None,
) -> int:
    """Convert the frozen base linears of the blocks for ``train.base_precision``, block by block onto
    ``device`` (so the bfloat16 model never has to fit there whole); returns how many linears changed.
    ``after(index, block)`` runs on each block once it is on ``device`` (weight-only quantisation, block
    offload: ``train.offload_blocks``); without it the blocks are quantised here.

    - ``float8``: torchao float8 training (dynamic tensorwise scales) for the video linears: the matmuls of the
      forward and of the input gradient run in float8; the weights stay bfloat16. CUDA only.
    - ``int8_weights`` / ``float8_weights``: torchao weight-only 8-bit storage of every block linear (half the
      memory of bfloat16); each matmul dequantises to bfloat16.
    Must run before the LoRA adapters are added (they wrap the converted layers).
    """
    check_base_precision(precision, device)
    names = {id(m): n for n, m in transformer.named_modules()}
    blocks: Any = transformer.transformer_blocks
    if precision == "float8":
        from torchao.float8 import convert_to_float8_training

        transformer.to(device)
        changed = sum(_is_base_linear(m, n, video_only=True) for n, m in transformer.named_modules())
        convert_to_float8_training(
            transformer, module_filter_fn=lambda m, n: _is_base_linear(m, n, video_only=True)
        )
        if after is not None:
            for index, block in enumerate(blocks):
                after(index, block)
        return changed
    changed = (
        sum(_is_base_linear(m, n) for n, m in transformer.named_modules()) if precision != "bfloat16" else 0
    )
    for index, block in enumerate(blocks):
        block.to(device)
        if after is not None:
            after(index, block)
        else:
            quantize_block(block, precision, names[id(block)] + ".")
    move_except_blocks(transformer, device)
    return changed


def move_except_blocks(transformer: torch.nn.Module, device: torch.device | str) -> None:
    """Everything of the transformer but its blocks to ``device`` (blocks may be offloaded to the host)."""
    for name, child in transformer.named_children():
        if name != "transformer_blocks":
            child.to(device)
    for name, param in list(transformer._parameters.items()):
        if param is not None and param.device != torch.device(device):
            transformer._parameters[name] = torch.nn.Parameter(
                param.detach().to(device), requires_grad=param.requires_grad
            )


def make_optimizer(
    name: str, params: list[torch.nn.Parameter], *, lr: float, weight_decay: float, device: torch.device
) -> torch.optim.Optimizer:
    """``train.optimizer``: ``adamw`` (torch, fused on CUDA) or ``adamw8bit`` (torchao's AdamW with 8-bit
    block-wise quantised moments: a quarter of AdamW's state memory)."""
    if name == "adamw8bit":
        try:
            from torchao.optim import AdamW8bit
        except ImportError:
            raise ConfigError(
                "train.optimizer=adamw8bit: needs torchao (pip install 'synthgen[speed]')"
            ) from None

        return AdamW8bit(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=device.type == "cuda")
