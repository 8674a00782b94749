"""Block offload (``train.offload_blocks``): frozen block weights in pinned CPU memory, on the GPU only in use.

The last N transformer blocks keep their frozen parameters (the base weights; the LoRA adapters and their
optimizer state stay on the GPU) in page-locked host memory. Each call of such a block -- its forward, and
its recompute in the backward pass when it is checkpointed -- first makes sure its weights are on the GPU,
starts copying the weights of the block that runs next (the next offloaded block in a forward pass, the
previous one during the backward pass) on a side stream, runs the block, and puts the host copies back in
place. What the autograd graph saved of the GPU copies (a block's backward needs its weights) lives until
that backward is done; then the allocator reuses the memory. So the GPU holds the weights of about two
offloaded blocks at a time, instead of all of them.

The weights are moved as they are stored: bfloat16 tensors, or torchao's 8-bit weight tensors (moved through
their inner tensors). The call is intercepted outside ``torch.compile`` (the module's compiled call is wrapped,
not traced), so a compiled block keeps its one compiled graph.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

import torch


def offloaded_indices(num_blocks: int, count: int) -> list[int]:
    """The blocks ``train.offload_blocks`` = ``count`` offloads: the last ``min(count, num_blocks)``."""
    return list(range(max(0, num_blocks - count), num_blocks))


def map_plain(tensor: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn`` applied to a plain tensor, or to every inner tensor of a traceable tensor subclass (torchao's
    quantised weights), rebuilt around the results."""
    tensor = tensor.detach()
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if type(tensor) is torch.Tensor or flatten is None:
        return fn(tensor)
    names, meta = flatten()
    inner = {name: map_plain(getattr(tensor, name), fn) for name in names}
    rebuilt: torch.Tensor = type(tensor).__tensor_unflatten__(inner, meta, tensor.size(), tensor.stride())  # type: ignore[attr-defined]
    return rebuilt


def plain_parts(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The plain tensors a (possibly subclass) tensor is made of."""
    parts: list[torch.Tensor] = []
    map_plain(tensor, lambda t: parts.append(t) or t)  # type: ignore[func-returns-value]
    return parts


def to_host(tensor: torch.Tensor) -> torch.Tensor:
    """A host copy of ``tensor``, page-locked when CUDA is there (so copies to the GPU can run asynchronously)."""
    pin = torch.cuda.is_available()
    return map_plain(tensor, lambda t: torch.empty_like(t, device="cpu", pin_memory=pin).copy_(t))


def block_to_host(block: torch.nn.Module) -> int:
    """Move every parameter of ``block`` to (pinned) host memory; returns the bytes moved. Run before the
    adapters are added: at that point all of a block's parameters are frozen base weights."""
    moved = 0
    for module in block.modules():
        for name, param in list(module._parameters.items()):
            if param is None:
                continue
            host = to_host(param)
            moved += sum(t.numel() * t.element_size() for t in plain_parts(host))
            module._parameters[name] = torch.nn.Parameter(host, requires_grad=param.requires_grad)
    return moved


Entry = tuple[torch.nn.Module, str, torch.nn.Parameter]


class BlockOffload:
    """Fetches the frozen weights of the ``indices`` blocks of ``blocks`` to ``device`` around each call."""

    def __init__(self, blocks: Iterable[torch.nn.Module], indices: Iterable[int], device: torch.device):
        self.blocks = list(blocks)
        self.order = sorted(set(indices))
        self.device = device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.host: dict[int, list[Entry]] = {}
        self.pending: dict[int, tuple[list[torch.Tensor], Any]] = {}
        self.fetches = 0  # block weights fetched, and fetched in vain (a prefetch nobody used): tests, logs
        self.wasted = 0
        for index in self.order:
            block = self.blocks[index]
            self.host[index] = [
                (module, name, param)
                for module in block.modules()
                for name, param in module._parameters.items()
                if param is not None and not param.requires_grad
            ]
            inner = getattr(block, "_compiled_call_impl", None) or block._call_impl
            block._compiled_call_impl = self._wrap(index, inner)

    def host_bytes(self) -> int:
        """Bytes of the offloaded weights (held in host memory)."""
        return sum(
            t.numel() * t.element_size()
            for entries in self.host.values()
            for _, _, p in entries
            for t in plain_parts(p)
        )

    def _wrap(self, index: int, inner: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._enter(index)
            try:
                return inner(*args, **kwargs)
            finally:
                self._leave(index)

        return call

    def _next(self, index: int) -> int | None:
        """The offloaded block that runs after ``index``: the next one in a forward pass, the previous one while
        autograd runs a backward pass (checkpointed blocks are recomputed in reverse order)."""
        position = bisect.bisect_left(self.order, index)
        if torch._C._current_graph_task_id() != -1:
            return self.order[position - 1] if position > 0 else None
        return self.order[position + 1] if position + 1 < len(self.order) else None

    def _fetch(self, index: int) -> None:
        """Start copying block ``index``'s weights to the device (on the side stream when on CUDA)."""
        if index in self.pending:
            return
        self.fetches += 1
        if self.stream is None:
            copies = [map_plain(p, torch.clone) for _, _, p in self.host[index]]
            self.pending[index] = (copies, None)
            return
        with torch.cuda.stream(self.stream):
            copies = [
                map_plain(p, lambda t: t.to(self.device, non_blocking=True)) for _, _, p in self.host[index]
            ]
            event = torch.cuda.Event()
            event.record(self.stream)
        self.pending[index] = (copies, event)

    def _enter(self, index: int) -> None:
        self._fetch(index)
        copies, event = self.pending.pop(index)
        following = self._next(index)
        # Drop a fetch nobody used (a pass that went another way than foreseen), then prefetch the next block.
        for stale in [i for i in self.pending if i != following]:
            del self.pending[stale]
            self.wasted += 1
        if following is not None:
            self._fetch(following)
        if event is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_event(event)
            for copy in copies:
                for part in plain_parts(copy):
                    part.record_stream(main)  # freed memory is reused only after the main stream is done
        for (module, name, _), copy in zip(self.host[index], copies, strict=True):
            module._parameters[name] = torch.nn.Parameter(copy, requires_grad=False)

    def _leave(self, index: int) -> None:
        for module, name, host in self.host[index]:
            module._parameters[name] = host
