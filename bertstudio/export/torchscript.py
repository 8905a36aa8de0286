"""TorchScript export: a traced module for C++/LibTorch or Python without transformers.

Input order is (input_ids, attention_mask[, token_type_ids]) and is recorded in the
export folder's export.json.  PyTorch has deprecated TorchScript in favour of
torch.export; ONNX is the better choice for new deployments.
"""

from __future__ import annotations

from pathlib import Path

from bertstudio.export.tracing import example_inputs, logits_module, quiet_tracing
from bertstudio.results import Preprocessing

TORCHSCRIPT_FILE = "model.pt"


def export_torchscript(model, tokenizer, prep: Preprocessing, target: Path) -> list[str]:
    """Trace ``model`` on a padded example batch and save it; returns the input names in order."""
    import torch

    module, names = logits_module(model)
    with quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(module, example_inputs(tokenizer, prep, names), strict=False, check_trace=False)
        torch.jit.save(traced, str(target))
    return list(names)
