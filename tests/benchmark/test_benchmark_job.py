"""The benchmark as a background job: progress events folded into the snapshot the Benchmark tab draws."""

from __future__ import annotations

from bertstudio.benchmark.job import BenchmarkJob, JobSnapshot, Measured, fold_snapshot
from bertstudio.benchmark.records import BenchmarkResult
from bertstudio.benchmark.runner import BenchmarkPlan, BenchProgress
from bertstudio.benchmark.timing import QUICK_POLICY
from bertstudio.events import Failed
from bertstudio.jobs import Completed, Stopped


def tiny_plan(model, tmp_path) -> BenchmarkPlan:
    return BenchmarkPlan(models=(str(model),), backends=("torch-fp32",), batch_sizes=(1, 2), seq_lens=(8,),
                         threads=1, policy=QUICK_POLICY, tokenization=False, parity_rows=8,
                         cache_dir=tmp_path / "onnx-cache", busy_retries=0)


def test_the_snapshot_follows_the_events():
    assert fold_snapshot(4, [], running=False) == JobSnapshot(total=4)
    moving = fold_snapshot(4, [Measured(progress=BenchProgress(1, 4, "Timing X"))], running=True)
    assert (moving.done, moving.message, moving.running, moving.finished) == (1, "Timing X", True, False)
    done = fold_snapshot(4, [Completed(value=BenchmarkResult(settings={}, skipped=["no GPU"]))], running=False)
    assert done.finished and done.message == "Done." and done.skipped == ["no GPU"] and not done.running
    stopped = fold_snapshot(4, [Stopped(message="Stopped.")], running=True)
    assert stopped.cancelled and stopped.finished and not stopped.running  # ended, whatever the thread says
    mistake = fold_snapshot(4, [Failed(message="No such model.", hint="Pick another.")], running=False)
    assert mistake.error == "No such model. Pick another." and mistake.message == "Could not run the benchmark."
    bug = fold_snapshot(4, [Failed(message="boom", details="Traceback ...")], running=False)
    assert bug.message == "The benchmark failed."


def test_background_job_reports_progress_and_can_be_stopped(tiny_bert_dir, tmp_path):
    job = BenchmarkJob(tiny_plan(tiny_bert_dir, tmp_path)).start()
    assert job.wait(timeout=60)
    snap = job.snapshot()
    assert snap.finished and not snap.running and snap.error is None and not snap.cancelled
    assert len(snap.records) == 2 and snap.fraction == 1.0
    assert isinstance(job.outcome, Completed) and any(isinstance(e, Measured) for e in job.history)

    stopped = BenchmarkJob(tiny_plan(tiny_bert_dir, tmp_path))
    stopped.stop()  # asked before it even starts: ends at the first check
    assert stopped.start().wait(timeout=60)
    snap = stopped.snapshot()
    assert snap.cancelled and snap.records == [] and "Stopped" in snap.message

    failing = BenchmarkJob(tiny_plan(tmp_path / "missing-model", tmp_path)).start()
    assert failing.wait(timeout=60)
    assert "neither a built-in model nor a folder" in failing.snapshot().error
    assert failing.snapshot().message == "Could not run the benchmark."
