"""Benchmark reports: JSON, markdown table, headline, recommendation, chart, repeatability (pure)."""

from __future__ import annotations

import json

import pytest

from bertstudio.benchmark.chart import latency_chart
from bertstudio.benchmark.models import ARCHITECTURE_NOTE, BenchModel
from bertstudio.benchmark.records import BenchRecord
from bertstudio.benchmark.report import (
    headline,
    load_records,
    markdown_table,
    recommend_backend,
    speed_words,
    table_rows,
    write_json,
)
from bertstudio.benchmark.cells import CellTimes, build_record, measure_quietly
from bertstudio.benchmark.parity import parity_verdict
from bertstudio.benchmark.runner import compare_runs
from bertstudio.benchmark.timing import summarize


def rec(model: str, backend: str, p50: float, *, batch: int = 1, seq: int = 128, label: str | None = None,
        weights: str = "real", kind: str = "registry", parity: bool | None = None, agreement: float | None = None,
        note: str = "") -> BenchRecord:
    return BenchRecord(model=model, model_label=label or model, model_kind=kind, weights=weights, backend=backend,
                       device="cpu", threads=2, batch_size=batch, seq_len=seq, repeats=10, mean_ms=p50 * 1.05,
                       p50_ms=p50, p95_ms=p50 * 1.2, p99_ms=p50 * 1.3, throughput=batch * 1000 / (p50 * 1.05),
                       tokenize_p50_ms=0.3, e2e_p50_ms=p50 + 0.3, size_mb=255.0, peak_memory_mb=12.0,
                       parity_passed=parity, parity_agreement=agreement, parity_rows=64 if agreement else None,
                       note=note)


def reference_grid() -> list[BenchRecord]:
    """The shape of the real run: BERT-base (random weights) and DistilBERT at batch 1 and 32, seq 128."""
    random_note = ARCHITECTURE_NOTE
    records = []
    for batch, scale in ((1, 1.0), (32, 20.0)):
        records += [
            rec("bert-base-uncased", "torch-fp32", 169 * scale, batch=batch, label="BERT-base", weights="random",
                note=random_note),
            rec("bert-base-uncased", "onnx-int8", 24 * scale, batch=batch, label="BERT-base", weights="random",
                note=random_note),
            rec("distilbert-base-uncased", "torch-fp32", 68 * scale, batch=batch, label="DistilBERT-base",
                weights="random", note=random_note),
            rec("distilbert-base-uncased", "onnx-int8", 12 * scale, batch=batch, label="DistilBERT-base",
                weights="random", note=random_note),
        ]
    return records


def test_headline_compares_models_at_batch_1_longest_sequence_in_fp32():
    line = headline(reference_grid())
    assert line == "DistilBERT-base† is 2.5x faster than BERT-base† at batch 1, seq 128, on this CPU (PyTorch fp32)."
    int8 = headline(reference_grid(), backend="onnx-int8", batch_size=32)
    assert "DistilBERT-base† is 2.0x faster than BERT-base† at batch 32, seq 128" in int8
    assert "(ONNX Runtime INT8)" in int8


def test_headline_with_three_models_and_with_one_model():
    records = reference_grid() + [rec("bundled-minilm", "torch-fp32", 21.0, label="MiniLM-L6")]
    line = headline(records)
    assert line.startswith("DistilBERT-base† is 2.5x and MiniLM-L6 is 8.0x faster than BERT-base†")
    one = [r for r in reference_grid() if r.model == "bert-base-uncased"]
    assert headline(one) == "For BERT-base†, ONNX Runtime INT8 is 7.0x faster than PyTorch fp32 at batch 1, seq 128, " \
                            "on this CPU."
    assert headline([]) == "No measurements yet."


def test_a_ratio_under_one_is_slower_and_a_near_one_about_as_fast():
    """The tester read "ONNX Runtime fp32 is 0.9x faster than PyTorch fp32" beside 35.0 ms against 31.5 ms."""
    assert speed_words(31.5, 35.0) == "1.1x slower than"
    assert speed_words(100.0, 96.0) == speed_words(100.0, 104.0) == "about as fast as"
    assert speed_words(100.0, 50.0) == "2.0x faster than"
    mine = [rec("run-a", "torch-fp32", 31.5, label="Your model (MiniLM-L6)"),
            rec("run-a", "onnx", 35.0, label="Your model (MiniLM-L6)")]
    assert headline(mine) == ("For Your model (MiniLM-L6), ONNX Runtime fp32 is 1.1x slower than PyTorch fp32 at "
                              "batch 1, seq 128, on this CPU.")
    mixed = mine + [rec("run-a", "onnx-int8", 15.0, label="Your model (MiniLM-L6)"),
                    rec("run-a", "torch-bf16", 31.0, label="Your model (MiniLM-L6)")]
    assert ("ONNX Runtime INT8 is 2.1x faster than PyTorch fp32, PyTorch bf16 is about as fast as PyTorch fp32 and "
            "ONNX Runtime fp32 is 1.1x slower than PyTorch fp32") in headline(mixed)
    models = [rec("a", "torch-fp32", 100.0, label="A"), rec("b", "torch-fp32", 98.0, label="B")]
    assert headline(models).startswith("B is about as fast as A at batch 1")
    close = [rec("m", "torch-fp32", 100.0, label="M"), rec("m", "onnx", 97.0, label="M", parity=True)]
    _, reason = recommend_backend(close, "m")
    assert "about as fast as PyTorch fp32" in reason and "1.0x faster" not in reason


def test_markdown_table_marks_random_weights_and_lists_every_record():
    table = markdown_table(reference_grid())
    lines = table.splitlines()
    assert lines[0].startswith("| Model | Backend | Batch | Seq | p50 ms")
    assert sum(1 for line in lines if line.startswith("| BERT-base†")) == 4
    assert "| DistilBERT-base† | ONNX Runtime INT8 | 1 | 128 | 12.0 |" in table
    assert "| BERT-base† | PyTorch fp32 | 32 | 128 | 3380 |" in table
    assert f"† {ARCHITECTURE_NOTE}" in table and "no accuracy is claimed" in table
    assert len(table_rows(reference_grid())[0]) == 13


def test_json_round_trip(tmp_path):
    records = reference_grid()
    path = write_json(records, tmp_path / "sub" / "bench.json")
    data = json.loads(path.read_text())
    assert isinstance(data, list) and len(data) == len(records)
    assert data[0]["p50_ms"] == 169 and data[0]["weights"] == "random"
    assert load_records(path) == records


def test_recommendation_prefers_int8_only_when_its_parity_passed():
    mine = "runs/my-run"
    base = [rec(mine, "torch-fp32", 30.0, kind="folder", parity=None, agreement=1.0),
            rec(mine, "torch-bf16", 12.0, kind="folder", parity=True, agreement=1.0),
            rec(mine, "onnx", 15.0, kind="folder", parity=True, agreement=1.0)]
    passed = base + [rec(mine, "onnx-int8", 5.0, kind="folder", parity=True, agreement=0.99)]
    backend, reason = recommend_backend(passed, mine)
    assert backend == "onnx-int8"
    assert "6.0x faster than PyTorch fp32" in reason and "99% of 64 test texts" in reason

    failed = base + [rec(mine, "onnx-int8", 5.0, kind="folder", parity=False, agreement=0.90)]
    backend, reason = recommend_backend(failed, mine)
    assert backend == "torch-bf16"
    assert "ONNX Runtime INT8 is not recommended" in reason and "90%" in reason

    unknown = base + [rec(mine, "onnx-int8", 5.0, kind="folder", parity=None)]
    assert recommend_backend(unknown, mine)[0] == "torch-bf16"
    # A stronger check from elsewhere (the Export tab's) can vouch for INT8, or rule it out.
    assert recommend_backend(unknown, mine, parity_passed={"onnx-int8": True})[0] == "onnx-int8"
    assert recommend_backend(passed, mine, parity_passed={"onnx-int8": False, "torch-bf16": False})[0] == "onnx"


def test_recommendation_without_measurements_is_the_safe_default():
    backend, reason = recommend_backend([], "runs/none")
    assert backend == "torch-fp32" and "No CPU measurements" in reason
    only_fp32 = [rec("m", "torch-fp32", 10.0)]
    assert recommend_backend(only_fp32, "m")[0] == "torch-fp32"


def test_recommendation_for_a_batch_size_and_the_bf16_caveat():
    records = [rec("m", "torch-fp32", 20.0, batch=1), rec("m", "torch-fp32", 400.0, batch=32),
               rec("m", "torch-bf16", 10.0, batch=1, parity=True, agreement=1.0),
               rec("m", "torch-bf16", 110.0, batch=32, parity=True, agreement=1.0),
               rec("m", "onnx-int8", 9.0, batch=1, parity=True, agreement=1.0),
               rec("m", "onnx-int8", 280.0, batch=32, parity=True, agreement=1.0)]
    backend, reason = recommend_backend(records, "m")
    assert backend == "torch-bf16" and "AVX512-BF16 or AMX" in reason  # bulk scoring dominates the average
    assert recommend_backend(records, "m", batch_size=1)[0] == "onnx-int8"  # one request at a time
    assert recommend_backend(records, "m", batch_size=32)[0] == "torch-bf16"


def test_recommendation_averages_over_the_sizes_all_candidates_measured():
    records = [rec("m", "torch-fp32", 100.0, batch=1), rec("m", "torch-fp32", 1000.0, batch=32),
               rec("m", "onnx", 40.0, batch=1), rec("m", "onnx", 1100.0, batch=32)]
    backend, reason = recommend_backend(records, "m")
    assert backend == "onnx"  # sqrt(40 * 1100) = 210 < sqrt(100 * 1000) = 316
    assert "1.5x faster" in reason and "over 2 sizes" in reason


def test_latency_chart_groups_bars_by_backend():
    fig = latency_chart(reference_grid())
    assert [trace.name for trace in fig.data] == ["PyTorch fp32", "ONNX Runtime INT8"]
    fp32 = fig.data[0]
    assert list(fp32.y) == [169, 68, 3380, 1360]
    assert fp32.x[0] == "BERT-base†<br>batch 1 × 128"
    assert fig.layout.barmode == "group"
    assert "Median latency" in fig.layout.title.text
    empty = latency_chart([])
    assert len(empty.data) == 0 and empty.layout.annotations[0].text.startswith("Run the benchmark")


def test_latency_chart_of_one_size_uses_model_names_only():
    records = [r for r in reference_grid() if r.batch_size == 1]
    fig = latency_chart(records)
    assert list(fig.data[0].x) == ["BERT-base†", "DistilBERT-base†"]


def test_build_record_carries_labels_notes_and_throughput():
    model = BenchModel("bert-base-uncased", "BERT-base", "registry", "random", registry_key="bert-base-uncased",
                       notes=(ARCHITECTURE_NOTE,))
    times = CellTimes(summarize([0.1, 0.1, 0.1]), summarize([0.001] * 3), summarize([0.102] * 3), 5 * 1024 * 1024)
    record = build_record(model, "onnx-int8", "cpu", 2, 8, 64, times, size_bytes=110 * 1024 * 1024,
                          bf16_method="cast", onnx_source="benchmark cache")
    assert record.weights == "random" and record.note == ARCHITECTURE_NOTE
    assert record.p50_ms == pytest.approx(100.0) and record.throughput == pytest.approx(80.0)
    assert record.tokenize_p50_ms == pytest.approx(1.0) and record.e2e_p50_ms == pytest.approx(102.0)
    assert record.size_mb == pytest.approx(110.0) and record.peak_memory_mb == pytest.approx(5.0)
    assert record.bf16_method is None and record.onnx_source == "benchmark cache"
    assert record.parity_passed is None


def test_parity_verdict_follows_the_export_rules():
    from bertstudio.export.parity import ParityReport

    def report(agreement: float, diff: float = 1e-5, accuracy: float | None = None) -> ParityReport:
        labelled = {} if accuracy is None else {"labelled_rows": 100, "reference_accuracy": 0.9, "accuracy": accuracy,
                                                "reference_macro_f1": 0.9, "macro_f1": accuracy}
        return ParityReport(rows=100, source="test rows", max_abs_logit_diff=diff, label_agreement=agreement,
                            **labelled)

    assert parity_verdict("onnx", report(1.0))
    assert not parity_verdict("onnx", report(1.0, diff=0.05))  # fp32 must reproduce the logits
    assert parity_verdict("onnx-int8", report(0.995, diff=0.05))  # INT8 may move logits, not labels
    assert not parity_verdict("onnx-int8", report(0.95, diff=0.05))
    assert parity_verdict("torch-bf16", report(0.97, diff=0.05, accuracy=0.895))  # labelled: accuracy decides
    assert not parity_verdict("onnx-int8", report(1.0, diff=0.05, accuracy=0.88))


def test_compare_runs_pairs_cells_and_flags_disagreement():
    first = [rec("m", "torch-fp32", 100.0), rec("m", "onnx", 50.0), rec("m", "onnx-int8", 20.0)]
    second = [rec("m", "torch-fp32", 105.0), rec("m", "onnx", 60.0)]
    rows = compare_runs(first, second)
    assert [r.cell[1] for r in rows] == ["torch-fp32", "onnx"]
    assert rows[0].agrees and rows[0].difference == pytest.approx(0.05)
    assert not rows[1].agrees and rows[1].difference == pytest.approx(0.20)


def test_busy_cells_are_measured_again_and_flagged():
    cells = iter([0.9, 1.4, 0.1, 0.0])
    stats = summarize([0.01])

    def measure_once() -> CellTimes:
        return CellTimes(stats, None, None, 0, other_cores=next(cells))

    pauses = []
    best = measure_quietly(measure_once, retries=3, sleep=pauses.append)
    assert best.other_cores == 0.1 and best.attempts == 3 and len(pauses) == 2  # stops once quiet
    assert measure_quietly(lambda: CellTimes(stats, None, None, 0, other_cores=2.0), retries=0).attempts == 1

    quiet, busy = rec("m", "onnx", 10.0), rec("m", "onnx-int8", 5.0)
    busy.other_cpu_cores = 1.2
    assert not quiet.busy and busy.busy
    table = markdown_table([quiet, busy])
    assert "| 5.0 ⚠ |" in table and "| 10.0 |" in table
    # End to end comes from the same rounds as the model alone: the same disturbance, the same mark.
    assert "| 5.3 ⚠ |" in table and "| 10.3 |" in table
    assert "⚠ 1 cell timed while other programs used the CPU (up to 1.2 cores)" in table


def test_cells_timed_while_the_machine_ran_slow_are_measured_again_and_flagged(monkeypatch):
    from bertstudio.benchmark import cells
    from bertstudio.benchmark.cells import mark_host_speed
    from bertstudio.benchmark.contention import HostSpeed

    host = HostSpeed(probe=iter([30.0, 40.0]).__next__, settle_s=0)
    host.sample()  # calibration: 30 ms is this machine at its best
    assert host.slowdown(39.0) == pytest.approx(1.3) and host.slowdown(None) is None
    stats = summarize([0.01])
    probes = iter([39.0, 37.0, 31.0, 30.5])  # a slow spell, then the machine recovers
    pauses = []
    best = measure_quietly(lambda: CellTimes(stats, None, None, 0, other_cores=0.0, host_probe_ms=next(probes)),
                           retries=4, sleep=pauses.append, host=host)
    assert best.host_probe_ms == 31.0 and best.attempts == 3 and len(pauses) == 2  # stops once at speed
    still_slow = measure_quietly(lambda: CellTimes(stats, None, None, 0, other_cores=0.0, host_probe_ms=36.0),
                                 retries=1, sleep=pauses.append, host=host)
    assert still_slow.attempts == 2
    # Long cells are not redone for a slow spell (it can last minutes): flagged instead.
    monkeypatch.setattr(cells, "SLOW_RETRY_MAX_S", -1.0)
    long_cell = measure_quietly(lambda: CellTimes(stats, None, None, 0, other_cores=0.0, host_probe_ms=36.0),
                                retries=3, sleep=pauses.append, host=host)
    assert long_cell.attempts == 1

    at_speed, slow = rec("m", "onnx", 10.0), rec("m", "onnx-int8", 5.0)
    at_speed.host_probe_ms, slow.host_probe_ms = 31.0, 36.0
    mark_host_speed([at_speed, slow])  # against the run's fastest probe, known at the end
    assert at_speed.host_slowdown == 1.0 and not at_speed.slow_host
    assert slow.slow_host and slow.host_slowdown == pytest.approx(36 / 31)
    table = markdown_table([at_speed, slow])
    assert "| 5.0 ⚠ |" in table and "| 10.0 |" in table
    assert "1 cell timed while this machine itself ran slower than its best in this run" in table
    assert "up to 16% longer" in table


def test_host_speed_probe_times_a_real_workload():
    from bertstudio.benchmark.contention import HostSpeed

    host = HostSpeed()
    first = host.sample()
    assert first > 0 and host.fastest == first and host.slowdown(first) == 1.0


def test_cpu_contention_reports_other_cores():
    import time

    from bertstudio.benchmark.contention import CpuContention

    with CpuContention() as contention:
        time.sleep(0.2)
    assert contention.other_cores is None or contention.other_cores >= 0.0


def test_recommendation_by_use_splits_when_single_requests_and_batches_disagree():
    from bertstudio.benchmark.report import own_model_recommendations, recommend_by_use

    def rec(backend: str, batch: int, p50: float) -> BenchRecord:
        return BenchRecord(model="runs/a", model_label="Your model", model_kind="folder", weights="real",
                           backend=backend, device="cpu", threads=2, batch_size=batch, seq_len=128, repeats=5,
                           mean_ms=p50, p50_ms=p50, p95_ms=p50, p99_ms=p50, throughput=batch * 1000 / p50,
                           parity_agreement=1.0, parity_rows=100,
                           parity_passed=None if backend == "torch-fp32" else True)

    # Measured on this project's CPU for the bundled model: INT8 wins one at a time, bf16 wins batches.
    records = [rec("torch-fp32", 1, 20.1), rec("torch-bf16", 1, 9.9), rec("onnx-int8", 1, 5.9),
               rec("torch-fp32", 32, 404), rec("torch-bf16", 32, 113), rec("onnx-int8", 32, 193)]
    split = recommend_by_use(records, "runs/a")
    assert [(r.use.split(",")[0], r.backend) for r in split] == [
        ("one text at a time", "onnx-int8"), ("batches of 32", "torch-bf16")]
    assert "(one text at a time, e.g. an API): ONNX Runtime INT8.**" in split[0].markdown()
    agreeing = [r for r in records if r.backend != "onnx-int8"]
    single = recommend_by_use(agreeing, "runs/a")
    assert len(single) == 1 and single[0].use == "" and single[0].backend == "torch-bf16"
    assert [r.backend for r in own_model_recommendations(records)] == ["onnx-int8", "torch-bf16"]
