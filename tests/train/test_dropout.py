import torch

from bertstudio.train.speedups.dropout import FastDropout, keep_mask, use_fast_dropout


def test_keep_mask_drops_p_of_the_elements_and_follows_the_seed():
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), 0.1, torch.device("cpu"))
    assert mask.dtype == torch.bool and mask.shape == (1000, 1000)
    assert abs(1 - mask.float().mean().item() - 0.1) < 0.002
    torch.manual_seed(0)
    assert torch.equal(mask, keep_mask(torch.Size([1000, 1000]), 0.1, torch.device("cpu")))
    odd = keep_mask(torch.Size([3, 7]), 0.5, torch.device("cpu"))  # sizes not a multiple of four
    assert odd.shape == (3, 7)


def test_fast_dropout_scales_kept_values_and_passes_gradients_through_the_same_mask():
    torch.manual_seed(1)
    layer = FastDropout(0.25).train()
    x = torch.ones(200, 300, requires_grad=True)
    y = layer(x)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.75))
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))


def test_fast_dropout_keeps_the_input_dtype_and_is_identity_in_eval():
    layer = FastDropout(0.1)
    x = torch.randn(8, 16, dtype=torch.bfloat16)
    assert layer.train()(x).dtype == torch.bfloat16
    assert layer.eval()(x) is x
    assert FastDropout(0.0).train()(x) is x


def test_use_fast_dropout_swaps_every_dropout_of_a_model(tiny_bert_dir):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=3)
    before = {name: m.p for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert use_fast_dropout(model) == len(before) > 0
    after = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert all(type(m) is FastDropout and m.p == before[name] for name, m in after.items())
    state = model.state_dict()
    model.eval()
    ids = torch.tensor([[101, 2000, 2001, 102]])
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids).logits).all()
    assert state.keys() == model.state_dict().keys()  # nothing saved changes
