"""ONNX exports: fp32 for exact results anywhere ONNX Runtime runs, INT8 for a file about 4x smaller.

The legacy (TorchScript-based) exporter is used on purpose: torch's newer dynamo
exporter needs the onnxscript package and gives BERT models no advantage here.
INT8 uses dynamic quantization: weights are stored as 8-bit integers, activations
are quantized on the fly, so no calibration data is needed.
"""

from __future__ import annotations

from pathlib import Path

from bertstudio.export.tracing import example_inputs, logits_module, quiet_tracing
from bertstudio.results import Preprocessing

OPSET = 17
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
# Which ops get INT8 weights.  MatMul/Gemm hold the encoder's weights; Gather holds the embeddings, which
# are half of a small model's size, so leaving them in fp32 would keep the file above 60% of fp32.
# Per-channel scales (one per output row/column) keep the accuracy loss well below per-tensor scales.
INT8_OPS = ("MatMul", "Gemm", "Gather")


def export_onnx(model, tokenizer, prep: Preprocessing, target: Path) -> list[str]:
    """Write ``model`` as ONNX with dynamic batch and sequence axes; returns the input names."""
    import onnx
    import torch

    module, names = logits_module(model)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch"}
    with quiet_tracing(), torch.no_grad():
        torch.onnx.export(module, example_inputs(tokenizer, prep, names), str(target), dynamo=False,
                          input_names=list(names), output_names=["logits"], dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(str(target))
    return list(names)


def quantize_int8(source: Path, target: Path, *, per_channel: bool = True,
                  op_types: tuple[str, ...] = INT8_OPS) -> None:
    """Dynamic INT8 quantization of an fp32 ONNX file (weights QInt8)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_tracing():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=list(op_types))
