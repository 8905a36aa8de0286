"""The Benchmark tab: its pure view builders, the workspace check, and that the tab builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("gradio")

from bertstudio.benchmark.job import JobSnapshot
from bertstudio.benchmark.plan import QUICK, THOROUGH
from bertstudio.benchmark.records import BenchRecord
from bertstudio.errors import UserError
from bertstudio.jobs import JobRegistry
from bertstudio.ui import benchmark_tab as tab
from bertstudio.ui.session import RunInfo, SessionStore


def record(model: str, backend: str, p50: float, *, kind: str = "folder", label: str = "Your model (MiniLM-L6)",
           passed: bool | None = True) -> BenchRecord:
    return BenchRecord(model=model, model_label=label, model_kind=kind, weights="real", backend=backend, device="cpu",
                       threads=2, batch_size=1, seq_len=128, repeats=10, mean_ms=p50, p50_ms=p50, p95_ms=p50 * 1.1,
                       p99_ms=p50 * 1.2, throughput=1000 / p50, parity_agreement=1.0, parity_rows=40,
                       parity_passed=None if backend == "torch-fp32" else passed)


def test_model_choices_put_the_runs_first_and_preselect_the_open_run(tmp_path):
    runs = [RunInfo(tmp_path / "b", "MiniLM", 0.8, 0.8, "2026-01-02"), RunInfo(tmp_path / "a", "MiniLM", 0.7, 0.7,
                                                                                "2026-01-01")]
    choices = tab.model_choices(runs, {"bert-base-uncased": " (not downloaded: timed with random weights)"})
    assert choices[0] == (f"Your model: {runs[0].label}", str(tmp_path / "b"))
    assert [value for _, value in choices[2:]] == list(tab.COMPARISON_MODELS)
    assert ("BERT-base (not downloaded: timed with random weights)", "bert-base-uncased") in choices
    two = ["distilbert-base-uncased", "bert-base-uncased"]  # the run and two well-known models to compare with
    assert tab.default_models(runs, str(tmp_path / "a")) == [str(tmp_path / "a"), *two]
    assert tab.default_models(runs, None) == [str(tmp_path / "b"), *two]
    assert tab.default_models([], None) == two
    values = [value for _, value in choices]
    # Refreshing keeps the person's ticks, and adds their run when none of their runs is ticked.
    assert tab.ticked_models(runs, None, ["bert-base-uncased"], values) == [str(tmp_path / "b"), "bert-base-uncased"]
    assert tab.ticked_models(runs, None, [str(tmp_path / "a")], values) == [str(tmp_path / "a")]
    assert tab.ticked_models([], None, ["bert-base-uncased", "gone"], values) == ["bert-base-uncased"]
    assert tab.ticked_models(runs, None, [], values) == tab.default_models(runs, None)


def test_progress_and_status_text():
    running = JobSnapshot(done=3, total=12, message="Timing BERT-base", running=True)
    assert 'aria-valuenow="25"' in tab.progress_html(running)
    assert "Timing BERT-base (3 of 12 measurements)" in tab.status_markdown(running)
    done = JobSnapshot(done=12, total=12, finished=True, records=[record("r", "onnx", 5.0)],
                       skipped=["no onnx-int8 file"])
    assert "Done:** 1 measurement." in tab.status_markdown(done) and "Skipped: no onnx-int8 file" in \
        tab.status_markdown(done)
    assert "Stopped" in tab.status_markdown(JobSnapshot(cancelled=True, finished=True))
    assert "problem:** boom" in tab.status_markdown(JobSnapshot(error="boom", finished=True))
    assert 'aria-valuenow="0"' in tab.progress_html(JobSnapshot())


def test_results_view_has_headline_recommendation_chart_and_table():
    records = [record("runs/r", "torch-fp32", 30.0), record("runs/r", "onnx-int8", 6.0),
               record("distilbert-base-uncased", "torch-fp32", 60.0, kind="registry", label="DistilBERT-base")]
    headline, advice, fig, table, _ = tab.results_view(records)
    assert headline == "### Your model (MiniLM-L6) is 2.0x faster than DistilBERT-base at batch 1, seq 128, on this " \
                       "CPU (PyTorch fp32)."
    assert advice.startswith("**Recommended for Your model (MiniLM-L6): ONNX Runtime INT8.**")
    assert "DistilBERT" not in advice  # only the person's own models get a recommendation
    assert len(fig.data) == 2 and list(table.columns)[:4] == ["Model", "Backend", "Batch", "Seq"]
    assert len(table) == 3
    empty = tab.results_view([])
    assert empty[0] == "" and len(empty[3]) == 0


def _finished_run(root: Path, name: str) -> Path:
    run = root / name
    (run / "model").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"model": "MiniLM", "macro_f1": 0.8}))
    return run


def test_plan_accepts_own_runs_and_registry_models_only(tmp_path):
    store = SessionStore(tmp_path)
    mine, other = store.open(None), store.open(None)
    run = _finished_run(mine.runs, "20260101-000000-minilm")
    foreign = _finished_run(other.runs, "20260101-000000-minilm")
    plan = tab.plan_from_choices(mine, [str(run), "bert-base-uncased"], ["onnx", "torch-fp32"], ["32", "1"], ["128"])
    assert plan.models == (str(run), "bert-base-uncased")
    assert plan.backends == ("torch-fp32", "onnx") and plan.batch_sizes == (1, 32) and plan.seq_lens == (128,)
    assert plan.policy == QUICK.policy and plan.busy_retries == QUICK.busy_retries
    thorough = tab.plan_from_choices(mine, [str(run)], ["onnx"], ["1"], ["128"], THOROUGH.key)
    assert thorough.policy == THOROUGH.policy and thorough.busy_retries == THOROUGH.busy_retries
    with pytest.raises(UserError, match="does not belong"):
        tab.plan_from_choices(mine, [str(foreign)], ["onnx"], ["1"], ["128"])
    with pytest.raises(UserError, match="No model"):
        tab.plan_from_choices(mine, [], ["onnx"], ["1"], ["128"])
    with pytest.raises(UserError, match="No size"):
        tab.plan_from_choices(mine, ["bert-base-uncased"], ["onnx"], [], ["128"])


def test_only_one_benchmark_runs_at_a_time(tiny_bert_dir, tmp_path):
    from bertstudio.benchmark.job import BenchmarkJob
    from bertstudio.benchmark.runner import BenchmarkPlan
    from bertstudio.benchmark.timing import RepeatPolicy
    from bertstudio.jobs import BENCHMARK

    jobs = JobRegistry()
    slow = RepeatPolicy(warmup=0, min_repeats=1, min_seconds=30.0, max_seconds=30.0)
    plan = BenchmarkPlan(models=(str(tiny_bert_dir),), backends=("torch-fp32",), batch_sizes=(1,), seq_lens=(8,),
                         threads=1, policy=slow, tokenization=False, parity_rows=0)
    first = jobs.start("session-a", BenchmarkJob(plan))
    try:
        with pytest.raises(UserError, match="already running"):
            jobs.start("session-b", BenchmarkJob(plan))
        assert not jobs.stop("session-b", BENCHMARK) and jobs.stop("session-a", BENCHMARK)
    finally:
        first.stop()
        first.wait(timeout=60)
    assert first.snapshot().cancelled


def test_the_tab_builds_inside_an_app():
    import gradio as gr

    from bertstudio.ui.common import TokenizerCache
    from bertstudio.ui.context import AppContext
    from bertstudio.ui.predictors import PredictorCache

    with gr.Blocks() as demo:
        workspace = gr.State(None)
        loaded = demo.load(lambda: None, None, None)
        states = {"data": gr.State(None), "data_file": gr.State(""), "model": gr.State("bundled-minilm"),
                  "model_choice": gr.State(None), "run_dir": gr.State(None)}
        with gr.Tabs() as tabs:
            ctx = AppContext(store=SessionStore("/tmp/unused"), jobs=JobRegistry(), predictors=PredictorCache(),
                             tokenizers=TokenizerCache(), tabs=tabs, workspace=workspace, session_loaded=loaded,
                             **states)
            tab.build_benchmark_tab(ctx)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"bench-models", "bench-start", "bench-stop", "bench-chart", "bench-table", "bench-bar"} <= ids


def test_estimate_is_shown_for_the_selection_or_says_what_is_missing(tmp_path):
    from bertstudio.ui.session import SessionStore

    ws = SessionStore(tmp_path / "data").open(None)
    assert "No model is ticked" in tab.estimate_markdown(ws, [], ["onnx"], ["1"], ["128"])
    shown = tab.estimate_markdown(ws, ["distilbert-base-uncased"], ["torch-fp32", "onnx"], ["1", "8"], ["128"])
    assert shown.startswith("**Time estimate:** About ") and "4 measurements" in shown
    assert tab.estimate_markdown(None, [], [], [], []) == ""


def test_a_demo_offers_only_its_models_and_short_benchmarks(tmp_path):
    from bertstudio.limits import DEMO_LIMITS, NO_LIMITS, UsageLimits

    demo = [value for _, value in tab.model_choices([], None, DEMO_LIMITS)]
    assert demo == ["distilbert-base-uncased", "bundled-minilm"]  # not BERT-base, which the demo does not train
    assert "bert-base-uncased" in [value for _, value in tab.model_choices([], None, NO_LIMITS)]
    assert tab.default_batches(DEMO_LIMITS) == (1,) and tab.default_batches(NO_LIMITS) == QUICK.batch_sizes
    assert tab.default_models([], None, DEMO_LIMITS) == ["distilbert-base-uncased", "bundled-minilm"]
    assert "up to **5 minutes**" in tab.intro_markdown(DEMO_LIMITS) and tab.intro_markdown(NO_LIMITS) == tab.INTRO
    ws = SessionStore(tmp_path / "data").open(None)
    tight = UsageLimits(max_benchmark_minutes=0.01)
    shown = tab.estimate_markdown(ws, ["distilbert-base-uncased"], ["torch-fp32"], ["1"], ["128"], tight)
    assert "runs benchmarks of at most 0.01 minutes (time limit)" in shown and "Time estimate" not in shown


def test_a_demo_benchmark_job_refuses_what_the_limits_do_not_allow(tiny_bert_dir):
    from bertstudio.benchmark.job import BenchmarkJob
    from bertstudio.benchmark.runner import BenchmarkPlan
    from bertstudio.limits import DEMO_LIMITS, LimitExceeded, UsageLimits

    with pytest.raises(LimitExceeded, match="BERT-base .*cannot be timed in this demo"):
        BenchmarkJob(BenchmarkPlan(models=("bert-base-uncased",)), DEMO_LIMITS)
    with pytest.raises(LimitExceeded, match="would take about .* at most 5 minutes"):
        BenchmarkJob(BenchmarkPlan(models=("distilbert-base-uncased",), batch_sizes=(1, 32, 64),
                                   seq_lens=(128, 256, 512)), DEMO_LIMITS)
    plan = BenchmarkPlan(models=(str(tiny_bert_dir),), backends=("torch-fp32",), batch_sizes=(1,), seq_lens=(8,),
                         threads=1, tokenization=False, parity_rows=0)
    job = BenchmarkJob(plan, DEMO_LIMITS)
    assert 0 < job.expected_s < 5 * 60  # the line's expected wait uses it
    job.limits = UsageLimits(max_benchmark_minutes=1e-9)  # a benchmark that runs past its cap anyway
    job.start()
    assert job.wait(timeout=60)
    snapshot = job.snapshot()
    assert snapshot.cancelled and "limit of 1e-09 minutes per benchmark (time limit)" in tab.status_markdown(snapshot)


def test_the_preselected_benchmark_is_a_quick_comparison_at_the_models_own_length(tmp_path):
    """The tab preselected batch 1 and 32 at 128 tokens for a model trained at 64, and showed 'About 51 min for 16
    measurements' on a busy machine; the longer grid is now a choice."""
    from helpers import make_tiny_run

    ws = SessionStore(tmp_path / "data").open(None)
    run = make_tiny_run(ws.runs / "20260101-000000-minilm", max_length=96)
    (run / "summary.json").write_text(json.dumps({"model": "MiniLM", "macro_f1": 0.8}))
    runs = [RunInfo(run, "MiniLM", 0.8, 0.8, "2026-01-01")]
    models = tab.default_models(runs, None)
    assert models == [str(run), "distilbert-base-uncased", "bert-base-uncased"]
    batches, offered, ticked = tab.sizes_for(ws, QUICK.key, models)
    assert batches == ["1", "8"] and ticked == ["96"] and "96" in offered and "128" in offered
    batches, offered, ticked = tab.sizes_for(ws, THOROUGH.key, models)
    assert batches == ["1", "8", "32"] and ticked == ["16", "64", "96", "128"]
    with pytest.raises(UserError, match="does not belong"):  # paths from the browser are checked before reading
        tab.sizes_for(ws, QUICK.key, [str(tmp_path)])
    assert "Quick comparison" in tab.thoroughness_info() and "1, 8 and 32" in tab.thoroughness_info()
    # The sizes follow the models when the app ticks another run of the person's, not when it keeps their ticks.
    assert tab.sizes_follow(runs, None, models) and tab.sizes_follow(runs, ["bert-base-uncased"], models)
    assert not tab.sizes_follow(runs, models, models)
