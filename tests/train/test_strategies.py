"""Fine-tuning strategies: layer-wise learning-rate decay, gradual unfreezing, LoRA, pooling, and the recommendation."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from helpers import run_readme_code

from bertstudio.config import TrainConfig, config_from_preset, list_presets
from bertstudio.errors import ConfigError
from bertstudio.models.pooling import use_pooling
from bertstudio.train.auto import DataStats, Hardware, ModelShape, choose_strategy, explanations, resolve
from bertstudio.train.lora import add_lora, has_lora, lora_targets, merge_lora, save_adapter
from bertstudio.train.model_setup import apply_freezing, apply_strategy_freezing, is_head_parameter, parameter_groups
from bertstudio.train.schedule import lr_multiplier, phased_lr_multiplier
from bertstudio.train.speedups.cls_only import compute_last_layer_for_cls_only
from bertstudio.train.unfreezing import Unfreezer, gradual_unfreezer, plan_phases

MINILM = ModelShape(hidden=384, layers=6, ffn=1536, model_type="bert", trained_pooling="mean")
BERT_BASE = ModelShape()


def tiny(model_dir, num_labels=3):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=num_labels)


def some_inputs():
    torch.manual_seed(1)
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[0, 5:] = 0
    return {"input_ids": torch.randint(1000, 2000, (4, 9)), "attention_mask": mask}


def stats(rows: int, classes: int = 2) -> DataStats:
    return DataStats(train_rows=rows, class_counts={f"c{i}": rows // classes for i in range(classes)})


def lr_of(groups, param) -> float:
    return next(g["lr"] for g in groups if any(p is param for p in g["params"]))


# --- layer-wise learning-rate decay ------------------------------------------------------------------------


def test_layer_lr_decay_gives_each_layer_its_own_rate(tiny_bert_dir):
    model = tiny(tiny_bert_dir)  # 2 layers
    cfg = TrainConfig(lr=1e-3, head_lr=2e-3, layer_lr_decay=0.5, freeze_layers=0, freeze_embeddings=False)
    apply_freezing(model, cfg)
    groups = parameter_groups(model, cfg)
    layers = model.bert.encoder.layer
    assert lr_of(groups, layers[1].attention.self.query.weight) == pytest.approx(1e-3)  # the top: the full rate
    assert lr_of(groups, layers[0].attention.self.query.weight) == pytest.approx(5e-4)
    assert lr_of(groups, model.bert.embeddings.position_embeddings.weight) == pytest.approx(2.5e-4)
    assert lr_of(groups, model.classifier.weight) == pytest.approx(2e-3)  # the head keeps its own rate
    assert all(g["initial_lr"] == g["lr"] for g in groups)
    no_decay = [g for g in groups if any(p is layers[0].output.LayerNorm.weight for p in g["params"])]
    assert no_decay[0]["weight_decay"] == 0.0 and no_decay[0]["lr"] == pytest.approx(5e-4)


def test_no_decay_keeps_one_encoder_rate(tiny_bert_dir):
    model = tiny(tiny_bert_dir)
    for decay in (None, 1.0):
        cfg = TrainConfig(lr=1e-3, head_lr=2e-3, layer_lr_decay=decay, freeze_layers=0)
        groups = parameter_groups(model, cfg)
        assert sorted({g["lr"] for g in groups}) == [1e-3, 2e-3] and len(groups) == 4


# --- gradual unfreezing -------------------------------------------------------------------------------------


def test_phased_schedule_is_pure_and_restarts_in_every_phase():
    starts, total = [0, 10, 20], 30
    values = [phased_lr_multiplier(s, starts, total, 0.2) for s in range(total)]
    assert values == [phased_lr_multiplier(s, starts, total, 0.2) for s in range(total)]  # pure: same in, same out
    for start in starts:  # each phase warms up again from the bottom, as if it were a run of its own
        assert values[start:start + 10] == [lr_multiplier(s, 10, 2) for s in range(10)]
        assert values[start] == pytest.approx(0.5) and values[start + 1] == 1.0
    assert values[9] < 0.2 and values[10] > values[9]  # decays to the end of a phase, then warms up again
    assert phased_lr_multiplier(5, [0], 10, 0.0) == lr_multiplier(5, 10, 0)  # one phase: the ordinary schedule


def test_phases_open_the_layers_top_down():
    phases = plan_phases(total_steps=12, num_layers=6, frozen_bottom=1)
    assert [p.start for p in phases] == [0, 3, 6, 9]
    assert [p.lowest_layer for p in phases] == [6, 4, 2, 1]  # head only, then down to the first unfrozen layer
    assert [p.lowest_layer for p in plan_phases(9, 2)] == [2, 1, 0]  # fewer layers: one per phase


def test_each_phase_trains_the_head_and_the_layers_opened_so_far(tiny_bert_dir):
    model = tiny(tiny_bert_dir)
    cfg = TrainConfig(unfreezing="gradual", freeze_layers=0, freeze_embeddings=False, lr=1e-3, head_lr=1e-3)
    apply_freezing(model, cfg)
    unfreezer = gradual_unfreezer(model, cfg, total_steps=9)
    layers = model.bert.encoder.layer

    def trains(module) -> bool:
        return all(p.requires_grad for p in module.parameters())

    assert unfreezer.enter(0) and not unfreezer.enter(1)  # only a new phase changes anything
    assert trains(model.classifier) and not trains(layers[1]) and not trains(layers[0])
    assert not trains(model.bert.embeddings)
    unfreezer.enter(3)
    assert trains(layers[1]) and not trains(layers[0])
    unfreezer.enter(8)
    assert trains(layers[1]) and trains(layers[0]) and trains(model.bert.embeddings)
    assert unfreezer.lr_multiplier(3) == phased_lr_multiplier(3, [0, 3, 6], 9, cfg.warmup_ratio)


def test_unfreezing_never_opens_what_freezing_keeps_fixed(tiny_bert_dir):
    model = tiny(tiny_bert_dir)
    cfg = TrainConfig(unfreezing="gradual", freeze_layers=1, lr=1e-3, head_lr=1e-3)
    apply_freezing(model, cfg)
    unfreezer = Unfreezer(model, plan_phases(4, 2, 1), 4, 0.1)
    unfreezer.enter(3)
    assert not any(p.requires_grad for p in model.bert.encoder.layer[0].parameters())
    assert not any(p.requires_grad for p in model.bert.embeddings.parameters())
    assert all(p.requires_grad for p in model.bert.encoder.layer[1].parameters())
    assert gradual_unfreezer(model, cfg.model_copy(update={"unfreezing": "none"}), 4) is None
    assert gradual_unfreezer(model, cfg.model_copy(update={"freeze_encoder": True}), 4) is None


# --- LoRA -----------------------------------------------------------------------------------------------------


def lora_model(model_dir, rank=4, pooling=None):
    model = use_pooling(tiny(model_dir), pooling)
    add_lora(model, rank)
    apply_freezing(model, TrainConfig(freeze_layers=0))
    apply_strategy_freezing(model)
    with torch.no_grad():  # LoRA's B starts at zero; give the adapters something to merge
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    return model.eval()


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_lora_trains_only_the_adapters_and_the_head(tiny_bert_dir, tiny_distilbert_dir, family):
    model = lora_model(tiny_bert_dir if family == "bert" else tiny_distilbert_dir)
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained and all(".lora_" in name or is_head_parameter(name, model) for name in trained)
    assert any(".lora_" in name for name in trained) and "classifier.weight" in trained
    if family == "distilbert":
        assert "pre_classifier.weight" in trained
    assert not any(".lora_" in name and "pooler" in name for name in trained)  # the pooler is head, never adapted


def test_merged_model_computes_what_the_adapters_did_and_is_plain(tiny_bert_dir):
    model = lora_model(tiny_bert_dir)
    inputs = some_inputs()
    with torch.no_grad():
        before = model(**inputs).logits
    merge_lora(model)
    with torch.no_grad():
        after = model(**inputs).logits
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)
    assert not has_lora(model) and not any("lora" in k for k in model.state_dict())
    plain = tiny(tiny_bert_dir)
    assert set(model.state_dict()) == set(plain.state_dict())


def test_adapter_folder_loads_in_peft_to_the_same_model(tiny_bert_dir, tmp_path):
    from peft import PeftModel

    model = lora_model(tiny_bert_dir)
    with torch.no_grad():
        model.classifier.weight.add_(1.0)  # a trained head: it must travel with the adapters
        expected = model(**some_inputs()).logits
    folder = save_adapter(model, tmp_path / "adapter", is_head_parameter)
    assert (folder / "adapter_model.safetensors").is_file()
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and set(config["modules_to_save"]) == {"classifier", "pooler"}
    restored = PeftModel.from_pretrained(tiny(tiny_bert_dir), str(folder)).eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(**some_inputs()).logits, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family,pooling", [("bert", None), ("bert", "mean"), ("distilbert", "mean")])
def test_the_adapter_folders_readme_code_rebuilds_the_same_classifier(tiny_bert_dir, tiny_distilbert_dir, tmp_path,
                                                                      monkeypatch, family, pooling):
    """The README saved with the adapters is code a person runs: run as written, it gives the trained logits; a
    pooled classifier's README builds the pooled class (the plain one would read [CLS] and predict otherwise)."""
    model = lora_model(tiny_bert_dir if family == "bert" else tiny_distilbert_dir, pooling=pooling)
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
        expected = model(**some_inputs()).logits
    folder = save_adapter(model, tmp_path / "adapter", is_head_parameter)
    readme = (folder / "README.md").read_text()
    assert "../model/" in readme
    assert ("pooling" in readme and (folder / "pooled_modeling.py").is_file()) == (pooling is not None)
    torch.manual_seed(5)  # any other draw of the fresh head: the adapter folder must supply the trained one
    monkeypatch.setattr(sys, "path", list(sys.path))  # the README's code puts the folder on it
    namespace = run_readme_code(folder / "README.md")
    with torch.no_grad():
        torch.testing.assert_close(namespace["model"](**some_inputs()).logits, expected, atol=1e-5, rtol=1e-4)

    # The run folder moved: the one line the README names is all there is to change.
    moved = shutil.move(str(folder), str(tmp_path / "moved"))
    readme = Path(moved) / "README.md"
    readme.write_text(readme.read_text().replace(repr(str(folder.resolve())), repr(moved)))
    monkeypatch.delitem(sys.modules, "pooled_modeling", raising=False)
    namespace = run_readme_code(readme)
    with torch.no_grad():
        torch.testing.assert_close(namespace["model"](**some_inputs()).logits, expected, atol=1e-5, rtol=1e-4)


def test_lora_on_an_architecture_it_cannot_target_is_refused_clearly():
    from transformers import ElectraConfig, ElectraForSequenceClassification

    model = ElectraForSequenceClassification(ElectraConfig(vocab_size=100, embedding_size=16, hidden_size=16,
                                                           num_hidden_layers=1, num_attention_heads=2,
                                                           intermediate_size=32, num_labels=2))
    with pytest.raises(ConfigError) as err:
        add_lora(model, 4)
    assert "LoRA cannot be applied to this electra model" in err.value.message
    assert "lora_rank 0" in err.value.hint
    assert not has_lora(model)


def test_lora_targets_depend_on_the_family_and_size():
    small, covered_small = lora_targets("bert", 384)
    base, covered_base = lora_targets("bert", 768)
    assert "intermediate" in small and "intermediate" not in base and "query|value" in base
    assert "q_lin" in lora_targets("distilbert", 768)[0] and "lin1" in lora_targets("distilbert", 256)[0]
    assert "feed-forward" in covered_small and "query and value" in covered_base


# --- pooling ----------------------------------------------------------------------------------------------------


def test_mean_pooling_reads_every_real_token_and_skips_the_cls_only_shortcut(tiny_bert_dir):
    model = use_pooling(tiny(tiny_bert_dir).eval(), "mean")
    inputs = some_inputs()
    with torch.no_grad():
        hidden = model.bert(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        expected = model.classifier((hidden * mask).sum(1) / mask.sum(1))
        torch.testing.assert_close(model(**inputs).logits, expected)
    assert not compute_last_layer_for_cls_only(model)  # it would drop every token but [CLS]


def test_cls_without_pooler_reads_the_first_token_and_keeps_the_shortcut(tiny_bert_dir):
    model = use_pooling(tiny(tiny_bert_dir).eval(), "cls_no_pooler")
    inputs = some_inputs()
    with torch.no_grad():
        expected = model.classifier(model.bert(**inputs).last_hidden_state[:, 0])
        torch.testing.assert_close(model(**inputs).logits, expected)
        assert compute_last_layer_for_cls_only(model)
        torch.testing.assert_close(model(**inputs).logits, expected, atol=1e-5, rtol=1e-4)
    apply_strategy_freezing(model)
    assert not any(p.requires_grad for p in model.bert.pooler.parameters())  # it feeds nothing now


def test_native_pooling_keeps_the_plain_class(tiny_bert_dir, tiny_distilbert_dir):
    assert type(use_pooling(tiny(tiny_bert_dir), "cls")).__name__ == "BertForSequenceClassification"
    assert type(use_pooling(tiny(tiny_distilbert_dir), "cls_no_pooler")).__name__ == \
        "DistilBertForSequenceClassification"
    assert type(use_pooling(tiny(tiny_distilbert_dir), "mean")).__name__ == "PooledDistilBertForSequenceClassification"


# --- the recommendation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows, classes, name, decay", [
    (400, 2, "full fine-tuning", 1.0), (999, 2, "full fine-tuning", 1.0),  # full won at 500 rows
    (1_000, 4, "layer-wise learning-rate decay", 0.9), (2_999, 4, "layer-wise learning-rate decay", 0.9),  # at 2,000
    (3_000, 4, "full fine-tuning", 1.0), (50_000, 20, "full fine-tuning", 1.0)])  # full won at 4,500
def test_the_recommendation_is_what_won_the_benchmark_and_says_why(rows, classes, name, decay):
    strategy = choose_strategy(stats(rows, classes), MINILM)
    assert (strategy.name, strategy.layer_lr_decay, strategy.unfreezing, strategy.lora_rank) == (name, decay, "none", 0)
    assert f"{rows:,} training rows for {classes} classes" in strategy.reason
    assert "bench/STRATEGIES.md" in strategy.reason
    resolved = resolve(TrainConfig(), stats(rows, classes), Hardware("cpu"), model=MINILM)
    assert (resolved.config.layer_lr_decay, resolved.config.unfreezing, resolved.config.lora_rank) == \
        (decay, "none", 0)
    reasons = [d.reason for d in resolved.decisions if d.field in ("layer_lr_decay", "unfreezing", "lora_rank")]
    assert len(reasons) == 3 and reasons[0].startswith(f"Strategy: {name}.")
    assert sum(strategy.reason in r for r in reasons) == 1  # said once, not three times
    listed = explanations(resolved.decisions)  # what the console and the Model tab list: the strategy once
    assert sum(r.startswith("Strategy:") for r in listed) == 1 and len(listed) == len(resolved.decisions) - 2


def test_a_strategy_the_person_chose_is_named_in_the_plan_and_not_mixed_with_the_recommendation():
    resolved = resolve(TrainConfig(unfreezing="gradual"), stats(3_000, 4), Hardware("cpu"), model=MINILM)
    assert (resolved.config.unfreezing, resolved.config.layer_lr_decay, resolved.config.lora_rank) == \
        ("gradual", 1.0, 0)
    reasons = [d.reason for d in resolved.decisions if d.field in ("layer_lr_decay", "lora_rank")]
    assert reasons and all(r.startswith("Strategy: gradual unfreezing (your choice).") for r in reasons)
    assert not any("full fine-tuning" in d.reason for d in resolved.decisions)


def test_lora_gets_a_larger_learning_rate_and_what_the_person_set_is_kept():
    lora = resolve(TrainConfig(lora_rank=16), stats(400), Hardware("cpu"), model=MINILM)
    assert lora.config.lr == pytest.approx(5e-4) and "larger learning rate" in next(
        d.reason for d in lora.decisions if d.field == "lr")
    user = resolve(TrainConfig(lora_rank=8, lr=2e-5, layer_lr_decay=0.8), stats(400), Hardware("cpu"),
                   model=MINILM).config
    assert (user.lora_rank, user.lr, user.layer_lr_decay) == (8, 2e-5, 0.8)


def test_head_only_training_is_its_own_strategy():
    strategy = choose_strategy(stats(400), MINILM, head_only=True)
    assert strategy.name == "head only" and strategy.lora_rank == 0


def test_pooling_follows_how_the_model_was_trained():
    assert resolve(TrainConfig(), stats(400), Hardware("cpu"), model=MINILM).config.pooling == "mean"
    assert resolve(TrainConfig(), stats(400), Hardware("cpu"), model=BERT_BASE).config.pooling == "cls"
    distil = ModelShape(hidden=768, layers=6, model_type="distilbert")
    assert resolve(TrainConfig(), stats(400), Hardware("cpu"), model=distil).config.pooling == "cls"  # its own head


def test_the_bundled_model_folder_says_it_was_trained_with_mean_pooling():
    from bertstudio.models.pooling import trained_pooling
    from bertstudio.models.sources import resolve_model_source

    assert trained_pooling(resolve_model_source("bundled-minilm")) == "mean"


# --- settings --------------------------------------------------------------------------------------------------


def test_strategy_presets_validate_and_say_when_to_use_them():
    presets = list_presets()
    assert {"gentle", "lora", "gradual"} <= set(presets)
    assert config_from_preset("gentle").layer_lr_decay == 0.9
    assert config_from_preset("lora").lora_rank == 16 and config_from_preset("gradual").unfreezing == "gradual"
    assert all(len(presets[name].use_when) > 40 for name in ("gentle", "lora", "gradual"))


def test_a_run_saved_before_the_strategies_resumes_as_it_trained(tmp_path):
    old = TrainConfig(lr=1e-4).to_json_dict()
    for name in ("pooling", "layer_lr_decay", "unfreezing", "lora_rank"):
        old.pop(name)
    (tmp_path / "config.json").write_text(json.dumps({**old, "decisions": []}))
    loaded = TrainConfig.load(tmp_path / "config.json")
    assert (loaded.pooling, loaded.layer_lr_decay, loaded.unfreezing, loaded.lora_rank) == ("cls", 1.0, "none", 0)
    (tmp_path / "settings.json").write_text(json.dumps(old))  # a settings file, not a run: auto stays auto
    assert TrainConfig.load(tmp_path / "settings.json").lora_rank is None


def test_bad_strategy_values_are_refused_with_the_flag():
    with pytest.raises(ConfigError, match="--layer-lr-decay"):
        config_from_preset("balanced", layer_lr_decay=1.5)
    with pytest.raises(ConfigError, match="--pooling"):
        config_from_preset("balanced", pooling="max")


# --- whole runs ------------------------------------------------------------------------------------------------------


def a_run(data, model_dir, out, **settings):
    from bertstudio.train.pipeline import train

    cfg = config_from_preset(data=str(data), model=str(model_dir), output_dir=str(out), max_length=32, batch_size=8,
                             epochs=2, precision="fp32", simple_model=False, **settings)
    return train(cfg)


def test_a_lora_run_keeps_its_adapter_and_saves_a_merged_plain_model(small_csv, tiny_bert_dir, tmp_path):
    from safetensors.torch import load_file
    from transformers import pipeline

    from bertstudio.predict.predictor import load_predictor
    from bertstudio.runs import RunFolder

    summary = a_run(small_csv, tiny_bert_dir, tmp_path / "run", lora_rank=4, pooling="cls")
    run = RunFolder(summary.run_dir)
    assert (run.adapter / "adapter_model.safetensors").is_file() and (run.adapter / "adapter_config.json").is_file()
    adapter = load_file(str(run.adapter / "adapter_model.safetensors"))
    assert any("lora_A" in k for k in adapter) and "base_model.model.classifier.weight" in adapter
    weights = load_file(str(run.model / "model.safetensors"))
    assert not any("lora" in k for k in weights)  # merged: a plain classifier
    assert sum(t.numel() for t in adapter.values()) < sum(t.numel() for t in weights.values()) / 10
    config = json.loads(run.config.read_text())
    assert config["lora_rank"] == 4 and preprocessing_of(run).lora_rank == 4
    texts = ["invoice refund number 3", "parcel courier late", "great thanks"]
    pipe = pipeline("text-classification", model=str(run.model), device="cpu")
    assert [o["label"] for o in pipe(texts, truncation=True)] == load_predictor(run.path).predict(texts).labels


def preprocessing_of(run):
    from bertstudio.results import Preprocessing

    return Preprocessing.read(run.preprocessing)


@pytest.mark.parametrize("settings", [{"unfreezing": "gradual", "freeze_layers": 0},
                                      {"layer_lr_decay": 0.8, "pooling": "mean"}],
                         ids=["gradual", "llrd-mean"])
def test_gentle_strategies_train_a_whole_run(small_csv, tiny_bert_dir, tmp_path, settings):
    from bertstudio.runs import RunFolder

    summary = a_run(small_csv, tiny_bert_dir, tmp_path / "run", lora_rank=0, **settings)
    run = RunFolder(summary.run_dir)
    assert run.is_complete and not run.adapter.exists() and summary.steps > 0
    saved = json.loads(run.config.read_text())
    assert all(saved[k] == v for k, v in settings.items())
    assert preprocessing_of(run).pooling == settings.get("pooling", saved["pooling"])


def test_lora_on_an_untargetable_model_is_refused_before_any_work():
    other = ModelShape(hidden=256, layers=4, ffn=1024, model_type="electra")
    with pytest.raises(ConfigError, match="LoRA cannot be applied to this electra model"):
        resolve(TrainConfig(lora_rank=8), stats(400), Hardware("cpu"), model=other)
    with pytest.raises(ConfigError, match="freeze_encoder"):
        config_from_preset("head-only", lora_rank=8)
