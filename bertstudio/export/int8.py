"""The INT8 ONNX file: transformer ops fused for ONNX Runtime first, then dynamically quantized.

Quantizing the graph exactly as PyTorch exports it leaves attention as ~20 small ops per layer that
ONNX Runtime cannot fuse, and the quantizer then multiplies activations by activations in INT8.
Here the model is exported with *eager* attention instead, whose pattern ONNX Runtime's transformer
optimizer recognises: each layer becomes one Attention kernel (QAttention once quantized) and the
embeddings one EmbedLayerNormalization.  The last layer, which computes [CLS] alone (export/tracing.py),
is not fused: its queries come from one position, a pattern the optimizer does not match; its matrix
products are quantized like any other.  Measured on the reference 2-core Xeon (batch 1, 128 tokens):
BERT-base INT8 in 25 ms instead of 30-35 ms, DistilBERT 12 ms instead of 16-19 ms; on a trained model
the labels still agree with PyTorch fp32 on 98.8% of 1,000 test rows (accuracy -0.2 points), and the
export's own INT8 accuracy check runs on every file either way.

Two deliberate choices: SkipLayerNormalization is not fused (ONNX Runtime's CPU kernel for it is
slow, see ``inference.ORT_DISABLED_OPTIMIZERS``), and the attention mask is kept as given (raw 2-D
mask), so left- or right-padded batches both work.  When the optimizer finds no attention to fuse (an
architecture it does not know), the plain export is quantized instead, which is always correct.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bertstudio.export.onnx import INT8_OPS, export_onnx, quantize_int8
from bertstudio.export.tracing import quiet_tracing
from bertstudio.results import Preprocessing

logger = logging.getLogger(__name__)

FUSED_OPS = ("Attention", "EmbedLayerNormalization")  # quantized on top of INT8_OPS when fused
# Part of the benchmark's ONNX cache key: a change here must not reuse older files.  v2: the fused graph is now
# stored as model.int8.onnx, a name under which v1 caches can hold a plain (unfused) INT8 file.  v3: every
# export computes the last layer for [CLS] alone (export/tracing.py), fp32 and INT8 files alike.
GRAPH_VERSION = "cls-v3"


@dataclass(frozen=True)
class Int8Build:
    fp32_size_bytes: int  # of the fp32 graph it was quantized from
    graph: str  # "fused" or "plain"
    fused_ops: dict[str, int] = field(default_factory=dict)

    @property
    def quantized_ops(self) -> list[str]:
        return [*INT8_OPS, *(FUSED_OPS if self.graph == "fused" else ())]


def attention_shape(config) -> tuple[int, int]:
    """(number of heads, hidden size) of a BERT or DistilBERT config."""
    heads = getattr(config, "num_attention_heads", None) or config.n_heads
    hidden = getattr(config, "hidden_size", None) or config.dim
    return int(heads), int(hidden)


def export_eager(model, tokenizer, prep: Preprocessing, target: Path) -> list[str]:
    """The ONNX export with eager attention for the duration (the model is left as it was)."""
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        return export_onnx(model, tokenizer, prep, target)
    finally:
        model.set_attn_implementation(before)


def fuse_transformer_ops(source: Path, target: Path, config) -> dict[str, int]:
    """ONNX Runtime's transformer optimizer on ``source``; returns how many of each fused op it made.

    The result is saved with every tensor's type (ONNX Runtime's symbolic shape inference, the only
    one that knows its fused ops), which the quantizer needs.
    """
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = attention_shape(config)
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    options.use_raw_attention_mask(True)
    with quiet_tracing():
        fused = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0,
                               optimization_options=options)
        fused.save_model_to_file(str(target))
        typed = SymbolicShapeInference.infer_shapes(onnx.load(str(target)), auto_merge=True)
    onnx.save(typed, str(target))
    return {op: n for op, n in fused.get_fused_operator_statistics().items() if n}


def write_int8(model, tokenizer, prep: Preprocessing, target: Path) -> Int8Build:
    """Write the INT8 graph of ``model`` to ``target`` (fused when possible, see the module note).

    The intermediate fp32 files (each as big as the model) live in a temporary folder next to ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".int8-", dir=target.parent))
    try:
        export_eager(model, tokenizer, prep, work / "eager.onnx")
        fp32_size = (work / "eager.onnx").stat().st_size
        try:
            fused = fuse_transformer_ops(work / "eager.onnx", work / "fused.onnx", model.config)
        except Exception as exc:  # the optimizer's own errors: fall back to the always-correct plain graph
            logger.info("ONNX Runtime's transformer optimizer failed (%s); quantizing the plain graph.", exc)
            fused = {}
        if fused.get("Attention"):
            build = Int8Build(fp32_size, "fused", fused)
            quantize_int8(work / "fused.onnx", target, op_types=tuple(build.quantized_ops))
        else:
            build = Int8Build(fp32_size, "plain")
            quantize_int8(work / "eager.onnx", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return build
