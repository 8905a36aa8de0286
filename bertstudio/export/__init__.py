"""Export a trained model: Hugging Face folder, ONNX, ONNX INT8 and TorchScript, each checked for parity.

``export_run(run_dir, "all", out_dir)`` is the entry point; importing this package is cheap
(torch, onnx and transformers load when an export runs).
"""

from bertstudio.export.core import (EXPORT_FORMATS, FORMAT_CHOICES, ExportResult, default_export_dir, export_run,
                   formats_for)
from bertstudio.export.parity import ParityReport, ValidationRows, compare_logits

__all__ = ["EXPORT_FORMATS", "FORMAT_CHOICES", "ExportResult", "ParityReport", "ValidationRows", "compare_logits",
           "default_export_dir", "export_run", "formats_for"]
