"""How much arithmetic the engine's training does: the numerator of "FLOP/s" and model FLOP utilisation.

Counted is the work the engine actually does, not the textbook 6N per token: frozen bottom layers run
forward only (nothing below them learns, so no gradient flows through them), and the last layer sends
[CLS] alone through its query, attention-output and feed-forward weights (``cls_only``). Pure: it reads
sizes off a transformers config, so a benchmark can count before or after training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# FLOPs per weight and token: a multiply-add forward; backward, one for the weight's gradient and one for
# the gradient of its input.
FORWARD, INPUT_GRADIENT, FORWARD_AND_BACKWARD = 2, 2, 6


@dataclass(frozen=True)
class EncoderSizes:
    hidden: int
    layers: int
    ffn: int

    @classmethod
    def of(cls, config: Any) -> "EncoderSizes":
        """From a BERT-style or DistilBERT config."""
        if getattr(config, "model_type", "") == "distilbert":
            return cls(config.dim, config.n_layers, config.hidden_dim)
        return cls(config.hidden_size, config.num_hidden_layers, config.intermediate_size)

    @property
    def layer_weights(self) -> int:
        return 4 * self.hidden * self.hidden + 2 * self.hidden * self.ffn  # Q, K, V, output; two feed-forward

    @property
    def cls_only_weights(self) -> int:
        """Weights of the last layer that see [CLS] alone (keys and values still see every token)."""
        return 2 * self.hidden * self.hidden + 2 * self.hidden * self.ffn


def training_flops(config: Any, tokens: int, texts: int, *, frozen_layers: int = 0,
                   seq_len: int | None = None) -> float:
    """Matrix-product FLOPs of training on ``texts`` texts holding ``tokens`` tokens in all (biases, norms, the
    small classifier head and embedding lookups are left out). With ``seq_len`` (every text that long),
    attention's scores and weighted sums are counted too; without it they are left out, as for texts of
    mixed lengths."""
    sizes = EncoderSizes.of(config)
    trained = sizes.layers - frozen_layers
    matrices = (FORWARD * frozen_layers + FORWARD_AND_BACKWARD * trained) * sizes.layer_weights * tokens
    matrices -= FORWARD_AND_BACKWARD * sizes.cls_only_weights * (tokens - texts)
    if frozen_layers:
        # Nothing below the first trained layer learns (the embeddings freeze with the layers), so its query,
        # key and value products skip the gradient of their input: 2 of the 6 FLOPs per weight and token.
        query_tokens = texts if trained == 1 else tokens
        matrices -= INPUT_GRADIENT * sizes.hidden * sizes.hidden * (2 * tokens + query_tokens)
    if seq_len is None:
        return float(matrices)
    # Attention: per layer and query row, two products over seq_len keys of ``hidden`` values. A frozen layer
    # runs forward only (1 pass), a trained one forward and backward (3); the last layer has one query row.
    passes = FORWARD_AND_BACKWARD // FORWARD
    query_rows = (frozen_layers + passes * (trained - 1)) * seq_len + passes
    return float(matrices + 2 * 2 * seq_len * sizes.hidden * texts * query_rows)
