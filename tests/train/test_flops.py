import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, DistilBertConfig

from bertstudio.config import TrainConfig
from bertstudio.models.pooled_modeling import POOLING_KEY
from bertstudio.models.pooling import use_pooling
from bertstudio.train.auto import ModelShape
from bertstudio.train.model_setup import prepare_model
from bertstudio.train.speedups.cls_only import restore_last_layer
from bertstudio.train.speedups.flops import layer_weights, training_flops

TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, num_labels=2)


def counted_training_flops(frozen_layers: int, batch: int, seq: int, pooling: str = "cls") -> tuple[float, float]:
    """(FLOPs PyTorch counts in one training step of a tiny BERT prepared as the engine does, the formula's)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    config = BertConfig(**TINY, attn_implementation="eager")
    model = use_pooling(BertForSequenceClassification(config), pooling)
    prepare_model(model, TrainConfig(freeze_embeddings=True, freeze_layers=frozen_layers), "cpu")
    ids = torch.randint(5, 100, (batch, seq))
    try:
        with FlopCounterMode(display=False) as counter:
            model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.zeros(batch, dtype=torch.long)
                  ).loss.backward()
    finally:
        restore_last_layer(model)
    h = config.hidden_size
    # Pooler and classifier: not in the formula. A mean-pooled BERT still runs its unused pooler forward.
    pooler = 6 * h * h if pooling == "cls" else 2 * h * h
    head = (pooler + 6 * h * config.num_labels) * batch
    return counter.get_total_flops() - head, training_flops(config, batch * seq, batch, frozen_layers=frozen_layers,
                                                            seq_len=seq)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("frozen_layers", [0, 1, 2])
def test_the_count_is_what_pytorch_computes_in_an_engine_training_step(frozen_layers, pooling):
    counted, formula = counted_training_flops(frozen_layers, batch=3, seq=10, pooling=pooling)
    assert formula == pytest.approx(counted, rel=1e-9)


def test_a_mean_pooled_model_s_last_layer_does_all_its_work():
    cls, mean = BertConfig(), BertConfig()
    setattr(mean, POOLING_KEY, "mean")
    assert training_flops(mean, 1280, 10) > training_flops(cls, 1280, 10)
    assert training_flops(mean, 100, 100) == training_flops(cls, 100, 100)  # one token each: nothing to skip


def test_frozen_layers_cost_a_third_and_the_textbook_count_without_them():
    config = BertConfig()
    one_token_texts = training_flops(config, 100, 100)  # only [CLS]: nothing for the last layer to skip
    assert one_token_texts == 6 * layer_weights(ModelShape.of(config)) * config.num_hidden_layers * 100
    assert training_flops(config, 1280, 10, frozen_layers=2) < training_flops(config, 1280, 10)


def test_distilbert_sizes():
    assert ModelShape.of(DistilBertConfig()) == ModelShape(768, 6, 3072)
