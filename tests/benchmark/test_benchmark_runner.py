"""The benchmark grid on tiny random-weight models: all four backends, labelling, stop and CLI."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest

from bertstudio.benchmark.models import ARCHITECTURE_NOTE, resolve_model
from bertstudio.benchmark.cells import OWN_EXPORT_NOTE
from bertstudio.benchmark.plan import BenchmarkPlan
from bertstudio.benchmark.runner import check_repeatability, run_benchmark
from bertstudio.benchmark.timing import QUICK_POLICY
from bertstudio.errors import ConfigError, ModelError

BACKENDS = ("torch-fp32", "torch-bf16", "onnx", "onnx-int8")


def quick_plan(models, tmp_path, **overrides) -> BenchmarkPlan:
    settings = {"models": tuple(str(m) for m in models), "backends": BACKENDS, "batch_sizes": (1, 2), "seq_lens": (8,),
                "threads": 1, "policy": QUICK_POLICY, "parity_rows": 8, "cache_dir": tmp_path / "onnx-cache",
                "busy_retries": 0}
    return BenchmarkPlan(**{**settings, **overrides})


def test_all_four_backends_on_tiny_bert_and_distilbert(tiny_bert_dir, tiny_distilbert_dir, tmp_path):
    seen = []
    result = run_benchmark(quick_plan([tiny_bert_dir, tiny_distilbert_dir], tmp_path), on_progress=seen.append)
    assert not result.cancelled and not result.skipped
    assert len(result.records) == 2 * 4 * 2
    assert {(r.model_label, r.backend) for r in result.records} == {
        (d.name, b) for d in (tiny_bert_dir, tiny_distilbert_dir) for b in BACKENDS}
    for r in result.records:
        assert r.weights == "real" and r.model_kind == "folder" and r.threads == 1 and r.seq_len == 8
        assert 0 < r.p50_ms <= r.p95_ms <= r.p99_ms
        assert r.throughput > 0 and r.repeats >= QUICK_POLICY.min_repeats
        assert r.tokenize_p50_ms > 0 and r.e2e_p50_ms > 0
        assert r.size_mb > 0 and r.peak_memory_mb > 0 and r.memory_kind == "rss-peak"
        assert r.parity_rows == 16 and r.parity_agreement is not None  # the 16 built-in sentences
    by_backend = {r.backend: r for r in result.records if r.model == str(tiny_bert_dir)}
    assert by_backend["torch-fp32"].parity_agreement == 1.0 and by_backend["torch-fp32"].parity_passed is None
    assert by_backend["onnx"].parity_max_diff < 1e-3 and by_backend["onnx"].parity_passed is True
    assert by_backend["torch-bf16"].bf16_method == "cast"
    assert by_backend["onnx"].onnx_source == "benchmark cache"
    assert by_backend["onnx-int8"].size_mb < by_backend["onnx"].size_mb  # INT8 weights are ~4x smaller
    # Progress counts every cell and ends at the total.
    assert seen[-1].done == seen[-1].total == 16 and seen[-1].message == "Done."
    assert sum(1 for p in seen if p.record is not None) == 16
    # Exports are cached: one folder per model, holding the fp32 and the INT8 file.
    cached = sorted((tmp_path / "onnx-cache").iterdir())
    assert len(cached) == 2
    assert all((c / "model.onnx").is_file() and (c / "model.int8.onnx").is_file() for c in cached)
    ops = {node.op_type for node in onnx.load(str(cached[0] / "model.int8.onnx")).graph.node}
    assert {"QAttention", "QEmbedLayerNormalization"} <= ops  # the export's INT8: fused, then quantized


def test_registry_model_without_weights_is_timed_as_its_architecture(monkeypatch, tmp_path):
    from transformers import DistilBertConfig

    from bertstudio.benchmark import models

    tiny = DistilBertConfig(vocab_size=30522, dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=64)
    monkeypatch.setattr(models, "availability", lambda key: "download")
    monkeypatch.setattr(models, "architecture_config", lambda key: tiny)
    plan = quick_plan(["distilbert-base-uncased"], tmp_path, backends=("torch-fp32", "onnx"), batch_sizes=(1,),
                      seq_lens=(8, 128))
    result = run_benchmark(plan)
    assert [r.backend for r in result.records] == ["torch-fp32", "onnx"]
    for r in result.records:
        assert r.weights == "random" and r.model_label == "DistilBERT-base"
        assert r.note == ARCHITECTURE_NOTE
        assert r.parity_agreement is None and r.parity_passed is None  # accuracy is not claimed
    # Sequence 128 is longer than this (tiny) architecture reads: skipped with a reason, not a crash.
    assert any("reads at most 64 tokens" in s for s in result.skipped)


def test_bundled_model_uses_its_real_weights():
    model = resolve_model("bundled-minilm")
    assert model.kind == "bundled" and model.weights == "real" and model.label == "MiniLM-L6"
    assert not model.notes


def test_onnx_export_folder_is_timed_with_onnx_backends_only(tiny_bert_dir, tmp_path):
    first = run_benchmark(quick_plan([tiny_bert_dir], tmp_path, backends=("onnx", "onnx-int8"), batch_sizes=(1,),
                                     tokenization=False))
    cache = next((tmp_path / "onnx-cache").iterdir())
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(cache / "model.onnx", export / "model.onnx")
    shutil.copy(cache / "model.int8.onnx", export / "model.int8.onnx")
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        shutil.copy(tiny_bert_dir / name, export / name)
    model = resolve_model(str(export))
    assert model.kind == "onnx-export" and set(model.onnx_files) == {"onnx", "onnx-int8"}
    result = run_benchmark(quick_plan([export], tmp_path, batch_sizes=(1,), tokenization=False))
    assert [r.backend for r in result.records] == ["onnx", "onnx-int8"]
    assert all(r.onnx_source == "export folder" and r.note == OWN_EXPORT_NOTE for r in result.records)
    assert result.records[1].parity_agreement is not None  # INT8 checked against the fp32 export
    assert result.records[1].parity_rows == 16

    # The export's own check of the file (export.json, on more rows) wins over the benchmark's quick one.
    (export / "export.json").write_text(json.dumps({
        "format": "onnx-int8", "parity": {"rows": 500, "label_agreement": 0.97, "max_abs_logit_diff": 0.2},
        "warnings": ["The INT8 model predicts a different label than the full model on 3.0% of 500 rows"]}))
    checked = run_benchmark(quick_plan([export], tmp_path, backends=("onnx-int8",), batch_sizes=(1,),
                                       tokenization=False))
    int8 = checked.records[0]
    assert (int8.parity_rows, int8.parity_agreement, int8.parity_passed) == (500, 0.97, False)
    assert result.skipped == [(f"{export.name} is an ONNX export without PyTorch weights, so it is timed with ONNX "
                               "backends only.")]
    assert first.records[0].tokenize_p50_ms is None and first.records[0].e2e_p50_ms is None


def test_stop_keeps_the_cells_measured_so_far(tiny_bert_dir, tmp_path):
    def stop_after_first_cell() -> bool:
        return len(records) >= 1

    records = []
    result = run_benchmark(quick_plan([tiny_bert_dir], tmp_path, backends=("torch-fp32",), tokenization=False),
                           on_progress=lambda p: records.append(p.record) if p.record else None,
                           should_stop=stop_after_first_cell)
    assert result.cancelled and len(result.records) == 1


def test_plan_and_model_mistakes_are_user_errors(tmp_path):
    with pytest.raises(ConfigError, match="Unknown backend"):
        run_benchmark(quick_plan(["bundled-minilm"], tmp_path, backends=("tensorrt",)))
    with pytest.raises(ConfigError, match="at least 1"):
        run_benchmark(quick_plan(["bundled-minilm"], tmp_path, batch_sizes=(0,)))
    with pytest.raises(ModelError, match="neither a built-in model nor a folder"):
        run_benchmark(quick_plan(["no-such-model"], tmp_path))


def test_check_repeatability_runs_twice(tiny_bert_dir, tmp_path):
    result, rows = check_repeatability(quick_plan([tiny_bert_dir], tmp_path, backends=("onnx",), batch_sizes=(1,),
                                                  tokenization=False))
    assert len(result.records) == 1 and len(rows) == 1
    assert rows[0].cell == (str(tiny_bert_dir), "onnx", 1, 8)
    assert rows[0].difference >= 0


def test_cli_writes_json(tiny_bert_dir, tmp_path, capsys):
    from bertstudio.cli import main

    out = tmp_path / "bench.json"
    code = main(["bench", "--models", str(tiny_bert_dir), "--backends", "torch-fp32,onnx", "--batch-sizes", "1",
                 "--seq-lens", "8,16", "--threads", "1", "--repeats", "2", "--min-seconds", "0", "--warmup", "1",
                 "--busy-retries", "0", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--quiet"])
    assert code == 0
    records = json.loads(out.read_text())
    assert [(r["backend"], r["seq_len"]) for r in records] == [("torch-fp32", 8), ("torch-fp32", 16), ("onnx", 8),
                                                               ("onnx", 16)]
    printed = capsys.readouterr().out
    assert "| Model | Backend |" in printed
    assert f"For {tiny_bert_dir.name}, ONNX Runtime fp32 is" in printed
    assert f"Recommended for {tiny_bert_dir.name}:" in printed


def test_cli_user_errors_end_in_one_line(capsys):
    from bertstudio.cli import main

    assert main(["bench", "--models", "no-such-model", "--quiet"]) == 2
    assert "neither a built-in model nor a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--batch-sizes", "1,x"])


def test_random_weights_export_like_a_trained_model(monkeypatch, tmp_path):
    """No two biases or norm weights are equal, so the exporter shares none of them (sharing changed which ops
    ONNX Runtime fuses, and so the INT8 timing); and the same architecture gives the same weights every time."""
    import torch
    from transformers import BertConfig

    from bertstudio.benchmark import models
    from bertstudio.benchmark.models import _random_weight_model

    tiny = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)
    monkeypatch.setattr(models, "architecture_config", lambda key: tiny)
    first, again = _random_weight_model("bert-base-uncased"), _random_weight_model("bert-base-uncased")
    vectors = [tuple(p.tolist()) for p in first.parameters() if p.dim() == 1]
    assert len(set(vectors)) == len(vectors)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters()))


def test_onnx_cache_keeps_the_most_recently_used_exports_within_its_budget(tmp_path):
    import os

    from bertstudio.benchmark.backends import prune_cache

    def export(name: str, size: int, age_s: int):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"x" * size)
        os.utime(folder, (1_000_000 - age_s, 1_000_000 - age_s))
        return folder

    in_use = export("in-use-but-old", 500, age_s=400)
    oldest, old, new, newest = (export("oldest", 100, 300), export("old", 300, 200), export("new", 200, 100),
                                export("newest", 200, 0))
    removed = prune_cache(tmp_path, in_use=in_use, budget=1000)
    # In use 500, then newest first: newest 200 + new 200 = 900; old (300) would pass 1000; oldest (100) fits.
    assert removed == [old]
    assert {p.name for p in tmp_path.iterdir()} == {"newest", "new", "in-use-but-old", "oldest"}
    assert prune_cache(tmp_path, in_use=newest, budget=0) == [new, oldest, in_use]  # what is in use always stays
    assert [p.name for p in tmp_path.iterdir()] == ["newest"]
