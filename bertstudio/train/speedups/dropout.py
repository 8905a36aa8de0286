"""Dropout with a cheap random mask, for training on a CPU.

PyTorch's CPU dropout draws one Bernoulli sample per element from its Mersenne Twister; profiled on
this project's 2-core reference CPU, those draws were 19% of a full training step of the bundled
model (batch 32 x 128 tokens), more than all attention matrix products together.  Here one 64-bit
draw from the same seeded generator yields four 16-bit uniform numbers, and an element is kept when
its number is above ``p`` of the 16-bit range: the drop rate is ``p`` to within 1/65536, the scaling
of kept elements is the usual ``1 / (1 - p)``, and gradients flow through the same mask.  The model's
own dropout modules are swapped in place (no weights change), only for CPU training; GPUs have fast
fused dropout kernels.
"""

from __future__ import annotations

import torch

_INT64 = torch.iinfo(torch.int64)
_INT16_SPAN = 1 << 16


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Boolean tensor of ``shape``: True with probability ``1 - p``, from the default seeded generator."""
    n = shape.numel()
    draws = torch.randint(_INT64.min, _INT64.max, ((n + 3) // 4,), dtype=torch.int64, device=device)
    uniform16 = draws.view(torch.int16)[:n].view(shape)
    return uniform16 >= int(-(_INT16_SPAN // 2) + round(p * _INT16_SPAN))


class FastDropout(torch.nn.Dropout):
    """``nn.Dropout`` with :func:`keep_mask`; identical in eval mode and at ``p == 0``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p >= 1.0:
            return x * 0
        scale = torch.tensor(1.0 / (1.0 - self.p), dtype=x.dtype, device=x.device)
        return x * (keep_mask(x.shape, self.p, x.device).to(x.dtype) * scale)


def use_fast_dropout(model: torch.nn.Module) -> int:
    """Turn every ``nn.Dropout`` of ``model`` into a :class:`FastDropout` (same ``p``); returns how many."""
    swapped = 0
    for module in model.modules():
        if type(module) is torch.nn.Dropout:
            module.__class__ = FastDropout
            swapped += 1
    return swapped
