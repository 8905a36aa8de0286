"""The last layer computed for [CLS] alone must change nothing a classifier computes, only the work."""

import pytest
import torch

from bertstudio.train.speedups.cls_only import (
    compute_last_layer_for_cls_only,
    restore_last_layer,
)


def classifier(folder, attention: str):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3, attn_implementation=attention)


def padded_batch():
    torch.manual_seed(1)
    ids = torch.randint(1000, 2000, (4, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # padding must stay invisible to [CLS] exactly as before
    mask[2, 2:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 2, 1])}


def logits_and_gradients(model, batch):
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    out.loss.backward()
    return out.logits.detach().clone(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
@pytest.mark.parametrize("model_fixture", ["tiny_bert_dir", "tiny_distilbert_dir"])
def test_same_logits_and_gradients_as_the_full_last_layer(request, model_fixture, attention):
    model = classifier(request.getfixturevalue(model_fixture), attention).eval()  # eval: no dropout draws
    batch = padded_batch()
    full_logits, full_grads = logits_and_gradients(model, batch)

    assert compute_last_layer_for_cls_only(model)
    logits, grads = logits_and_gradients(model, batch)

    assert torch.allclose(logits, full_logits, atol=1e-6)
    assert grads.keys() == full_grads.keys()  # every weight still learns, the last layer's included
    for name, grad in grads.items():
        assert torch.allclose(grad, full_grads[name], atol=1e-6), name


def test_restore_gives_back_every_position(tiny_bert_dir):
    model = classifier(tiny_bert_dir, "eager")
    keys = set(model.state_dict())
    compute_last_layer_for_cls_only(model)
    assert set(model.state_dict()) == keys  # nothing renamed: checkpoints are saved as before
    assert model.base_model(input_ids=torch.tensor([[101, 2000, 2001, 102]]))[0].shape[1] == 1
    restore_last_layer(model)
    assert model.base_model(input_ids=torch.tensor([[101, 2000, 2001, 102]]))[0].shape[1] == 4


def test_other_models_are_left_alone(tiny_bert_dir):
    from transformers import AutoModel

    flash = classifier(tiny_bert_dir, "eager")
    flash.config._attn_implementation = "flash_attention_2"  # its padding masks are not sliced by the shortcut
    assert not compute_last_layer_for_cls_only(flash)
    encoder = AutoModel.from_pretrained(tiny_bert_dir)  # no classifier head: every position may be wanted
    assert not compute_last_layer_for_cls_only(encoder)
    assert encoder(input_ids=torch.tensor([[101, 2000, 102]]))[0].shape[1] == 3


def test_training_puts_the_last_layer_back(tiny_bert_dir, small_csv, tmp_path):
    """Training uses the shortcut; the model it hands back computes every position, as any caller expects."""
    from bertstudio.config import config_from_preset
    from bertstudio.train.loop import train_model
    from bertstudio.train.pipeline import (
        build_model,
        load_inputs,
        make_accelerator,
        tokenize_splits,
    )

    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), batch_size=8, max_steps=3,
                             max_length=32, precision="fp32")
    inputs = load_inputs(cfg)
    data = tokenize_splits(inputs, 32)
    model = build_model(inputs, inputs.config)
    shapes = []
    model.base_model.encoder.register_forward_hook(lambda module, args, out: shapes.append(out[0].shape[1]))
    outcome = train_model(model, inputs.tokenizer, inputs.config, data.train, data.validation, inputs.label_names,
                          make_accelerator(inputs.config, inputs.device), emit=lambda e: None,
                          should_stop=lambda: False)
    assert outcome.steps_done == 3 and set(shapes) == {1}  # training and its evaluation: [CLS] only
    assert outcome.model.base_model(input_ids=torch.tensor([[101, 2000, 2001, 102]]))[0].shape[1] == 4


def test_prediction_computes_cls_alone_and_hands_the_model_back_whole(tiny_bert_dir, monkeypatch):
    """TorchBackend.logits (predict, serve, evaluate) uses the shortcut for each call only: same logits as the
    whole model, and the model it holds (which exports trace and the benchmark times) is the ordinary one."""
    from bertstudio.predict.backends import TorchBackend
    from bertstudio.train.speedups import cls_only
    from bertstudio.train.speedups.cls_only import last_layer_for_cls_only

    applied_in_calls = []

    def recorded(model):
        applied_in_calls.append(compute_last_layer_for_cls_only(model))
        return applied_in_calls[-1]

    monkeypatch.setattr(cls_only, "compute_last_layer_for_cls_only", recorded)

    backend = TorchBackend.from_folder(tiny_bert_dir, tiny_bert_dir / "model.safetensors")
    batch = {k: v.numpy() for k, v in padded_batch().items() if k != "labels"}
    with torch.inference_mode():
        whole = backend.model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    assert torch.allclose(torch.from_numpy(backend.logits(batch)), torch.from_numpy(whole), atol=1e-6)
    assert applied_in_calls == [True]
    ids = torch.tensor([[101, 2000, 2001, 102]])
    with last_layer_for_cls_only(backend.model) as applied:
        assert applied and backend.model.base_model(input_ids=ids)[0].shape[1] == 1
    assert backend.model.base_model(input_ids=ids)[0].shape[1] == 4
