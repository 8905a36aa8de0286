"""The export formats in the app's words: the Export tab's cards and buttons, and the Predict tab's hint
to make a missing export, name them the same way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormatInfo:
    title: str
    purpose: str  # one line: what the format is for


FORMAT_INFO: dict[str, FormatInfo] = {
    "hf": FormatInfo("Hugging Face folder", "For Python with Hugging Face transformers (`pipeline(...)`), or to "
                                            "share on the Hugging Face Hub; it includes a model card."),
    "onnx": FormatInfo("ONNX", "Run it from any language (Python, C#, Java, JavaScript, C++) with ONNX Runtime; "
                               "often faster than PyTorch on a CPU."),
    "onnx-int8": FormatInfo("ONNX INT8", "About 4x smaller and faster on CPUs, with a tiny accuracy change "
                                         "(measured below)."),
    "torchscript": FormatInfo("TorchScript", "For PyTorch without Python code: C++ (LibTorch), TorchServe or "
                                             "mobile apps."),
}
