"""How much arithmetic the engine's training does: the numerator of "FLOP/s" and model FLOP utilisation.

Counted is the work the engine actually does, not the textbook 6N per token: frozen bottom layers run
forward only (nothing below them learns, so no gradient flows through them), and the last layer of a model that
reads [CLS] sends it alone through its query, attention-output and feed-forward weights (``cls_only``; a
mean-pooled model reads every token, so its last layer does all of its work). Pure: it reads
sizes off a transformers config, so a benchmark can count before or after training.
"""

from __future__ import annotations

from typing import Any

from bertstudio.models.pooling import reads_first_token
from bertstudio.train.auto import ModelShape

# FLOPs per weight and token: a multiply-add forward; backward, one for the weight's gradient and one for
# the gradient of its input.
FORWARD, INPUT_GRADIENT, FORWARD_AND_BACKWARD = 2, 2, 6


def layer_weights(shape: ModelShape) -> int:
    return 4 * shape.hidden * shape.hidden + 2 * shape.hidden * shape.ffn  # Q, K, V, output; two feed-forward


def cls_only_weights(shape: ModelShape) -> int:
    """Weights of the last layer that see [CLS] alone (keys and values still see every token)."""
    return 2 * shape.hidden * shape.hidden + 2 * shape.hidden * shape.ffn


def training_flops(config: Any, tokens: int, texts: int, *, frozen_layers: int = 0,
                   seq_len: int | None = None) -> float:
    """Matrix-product FLOPs of training on ``texts`` texts holding ``tokens`` tokens in all (biases, norms, the
    small classifier head and embedding lookups are left out). With ``seq_len`` (every text that long),
    attention's scores and weighted sums are counted too; without it they are left out, as for texts of
    mixed lengths."""
    shape = ModelShape.of(config)
    trained = shape.layers - frozen_layers
    matrices = (FORWARD * frozen_layers + FORWARD_AND_BACKWARD * trained) * layer_weights(shape) * tokens
    reads_cls = reads_first_token(config)
    if reads_cls:
        matrices -= FORWARD_AND_BACKWARD * cls_only_weights(shape) * (tokens - texts)
    if frozen_layers:
        # Nothing below the first trained layer learns (the embeddings freeze with the layers), so its query,
        # key and value products skip the gradient of their input: 2 of the 6 FLOPs per weight and token.
        query_tokens = texts if trained == 1 and reads_cls else tokens
        matrices -= INPUT_GRADIENT * shape.hidden * shape.hidden * (2 * tokens + query_tokens)
    if seq_len is None:
        return float(matrices)
    # Attention: per layer and query row, two products over seq_len keys of ``hidden`` values. A frozen layer
    # runs forward only (1 pass), a trained one forward and backward (3); the last layer of a model that reads
    # [CLS] has one query row.
    passes = FORWARD_AND_BACKWARD // FORWARD
    query_rows = (frozen_layers + passes * (trained - 1)) * seq_len + passes * (1 if reads_cls else seq_len)
    return float(matrices + 2 * 2 * seq_len * shape.hidden * texts * query_rows)
