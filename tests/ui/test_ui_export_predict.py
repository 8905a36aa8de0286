"""The Export and Predict tabs without a browser: their pure view builders, and their handlers on a tiny run."""

from __future__ import annotations

import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from helpers import LABELS, make_tiny_run, sample_texts, tab_page

from bertstudio import limits as limits_module
from bertstudio.data.findings import Finding
from bertstudio.errors import DataError, ModelError, UserError
from bertstudio.export.job import ExportSnapshot
from bertstudio.jobs import EXPORT, BackgroundJob, Completed, JobRegistry, Stopped
from bertstudio.limits import UsageLimits
from bertstudio.predict.job import LabelFileJob
from bertstudio.predict.files import PredictFileResult
from bertstudio.results import ExportRecord, ExportResult, ParityReport, read_export
from bertstudio.runs import RunFolder
from bertstudio.ui import export_tab as ET
from bertstudio.ui import predict_tab
from bertstudio.ui.predictors import PredictorCache, missing_export_error
from bertstudio.ui.session import SessionStore
from bertstudio.ui.views import charts


def _result(fmt: str, *, warnings=(), **parity) -> ExportResult:
    base = {"rows": 40, "source": "40 test rows of the run", "label_agreement": 1.0, "max_abs_logit_diff": 1e-6}
    record = ExportRecord(format=fmt, file="model", parity=ParityReport(**{**base, **parity}), warnings=list(warnings))
    return ExportResult(Path(f"/w/run/exports/{fmt}"), record, 91_000_000)


# --- export: pure builders ----------------------------------------------------------------------------


@pytest.mark.parametrize("size, text", [(91_584_479, "91.6 MB"), (812_000, "812 KB"), (1_234_000_000, "1.23 GB"),
                                        (12, "12 bytes")])
def test_format_size(size, text):
    assert ET.format_size(size) == text


@pytest.mark.parametrize("share, text", [(1.0, "100%"), (0.975, "97.5%"), (0.9999, "99.9%"), (0.25457, "25.5%"),
                                         (0.0, "0%"), (0.0004, "<0.1%")])
def test_format_percent_never_rounds_up_to_perfect(share, text):
    assert charts.format_percent(share) == text


def test_parity_sentence_in_plain_words():
    assert ET.parity_sentence(_result("onnx")) == \
        "gives the same answers as the trained model on 100% of 40 test texts"
    examples = _result("torchscript", rows=16, source="16 example sentences (no test rows in the run)",
                       label_agreement=0.9375)
    assert ET.parity_sentence(examples).endswith("on 93.8% of 16 example sentences")

    int8 = _result("onnx-int8", label_agreement=0.975, size_ratio=0.2546, reference_accuracy=0.9, accuracy=0.875)
    sentence = ET.parity_sentence(int8)
    assert "97.5% of 40 test texts" in sentence
    assert "25.5% of the size of the full ONNX model" in sentence
    assert "accuracy 90.0% → 87.5% (**-2.5 points**)" in sentence
    unlabelled = _result("onnx-int8", size_ratio=0.25)
    assert "accuracy could not be measured" in ET.parity_sentence(unlabelled)


def test_cards_say_what_each_format_is_for_and_how_its_check_went():
    empty = ET.card_markdown("onnx-int8", None)
    assert empty.startswith("#### ONNX INT8\n") and "4x smaller" in empty and "Not exported yet." in empty
    assert "Exporting now" in ET.card_markdown("onnx", _result("onnx"), exporting=True)

    done = ET.card_markdown("onnx", _result("onnx"))
    assert "Ready: **91.0 MB**, gives the same answers" in done and "/w/run" not in done  # no folder unless local
    warned = _result("onnx-int8", warnings=["The INT8 model loses 2.5 points of accuracy."], size_ratio=0.25,
                     reference_accuracy=0.9, accuracy=0.875, accuracy_change_points=-2.5)
    card = ET.card_markdown("onnx-int8", warned)
    assert card.count("Check:") + card.count("Warning:") == 2
    assert "**The INT8 model loses 2.5 points of accuracy.**" in card
    assert ET.warnings_markdown({"onnx": _result("onnx"), "onnx-int8": warned}) == \
        "> Warning, **ONNX INT8:** The INT8 model loses 2.5 points of accuracy."
    assert ET.warnings_markdown({"onnx": _result("onnx")}) == ""


def test_status_lines_follow_the_job():
    assert "Pick a format" in ET.status_markdown(None, None)
    snap = ExportSnapshot(run_dir="/w/runs/a", formats=("onnx", "onnx-int8"), running=True)
    assert snap.current == "onnx" and snap.fraction == 0
    assert ET.status_markdown(snap, "/w/runs/a") == "Loading the model and exporting ONNX (1 of 2)…"
    assert 'aria-valuenow="25"' in ET.progress_html(snap)
    snap = ExportSnapshot(run_dir="/w/runs/a", formats=("onnx", "onnx-int8"), done=("onnx",), running=True)
    assert ET.status_markdown(snap, "/w/runs/b") == "Exporting ONNX INT8 (of the run a) (2 of 2)…"
    finished = ExportSnapshot(run_dir="/w/runs/a", formats=("onnx",), done=("onnx",), seconds=12.4)
    assert ET.status_markdown(finished, "/w/runs/a").startswith("**Exported ONNX** in 12 s")
    assert ET.progress_html(finished) == ""
    failed = ExportSnapshot(run_dir="/w/runs/a", formats=("onnx", "hf"), done=("onnx",), error="Disk full.")
    assert ET.status_markdown(failed, "/w/runs/a") == \
        "**The export stopped:** Disk full. Finished before the problem: ONNX."


def test_status_lines_while_zipping_all_four_formats():
    from bertstudio.events import Working

    zipping = ExportSnapshot(run_dir="/w/runs/a", formats=("hf",), done=("hf",), running=True, bundle=True,
                             zipped=Working(phase="zip", done=300_000_000, total=1_200_000_000))
    assert zipping.current is None and zipping.fraction == pytest.approx(0.625)  # 1 of 2 steps, a quarter zipped
    assert ET.status_markdown(zipping, "/w/runs/a").startswith(
        "Putting all four formats into one zip: 300.0 MB of 1.20 GB…")
    assert 'aria-valuenow="62"' in ET.progress_html(zipping)  # the bar moves by the bytes zipped
    stopped = ExportSnapshot(run_dir="/w/runs/a", formats=("hf", "onnx"), done=("hf",), bundle=True, stopped=True)
    assert ET.status_markdown(stopped, "/w/runs/a") == ("**Stopped** as you asked; nothing half-made was kept. "
                                                        "Kept, as they were finished: Hugging Face folder. "
                                                        "Press a button to start again.")


def test_speed_advice_comes_only_from_measurements_of_this_run():
    from bertstudio.benchmark.records import BenchRecord

    def record(backend: str, p50: float, passed) -> BenchRecord:
        return BenchRecord(model="/w/runs/a", model_label="Your model", model_kind="folder", weights="real",
                           backend=backend, device="cpu", threads=2, batch_size=1, seq_len=128, repeats=5,
                           mean_ms=p50, p50_ms=p50, p95_ms=p50, p99_ms=p50, throughput=1000 / p50,
                           parity_agreement=1.0, parity_rows=40, parity_passed=passed)

    records = [record("torch-fp32", 20.0, None), record("onnx", 10.0, True), record("onnx-int8", 5.0, True)]
    assert ET.speed_markdown(records, "/w/runs/other", {}, shared=False) == ""
    assert "ONNX Runtime INT8" in ET.speed_markdown(records, "/w/runs/a", {}, shared=False).split("**")[1]
    # An INT8 export whose check warned is not trusted, whatever the benchmark measured.
    distrusted = {"onnx-int8": _result("onnx-int8", warnings=["loses 3 points"])}
    advice = ET.speed_markdown(records, "/w/runs/a", distrusted, shared=False)
    assert "this computer: ONNX Runtime fp32.**" in advice and "not recommended" in advice
    assert "`bertstudio serve /w/runs/a --backend onnx`" in advice  # how to follow the advice
    only_torch = ET.speed_markdown([record("torch-fp32", 20.0, None)], "/w/runs/a", {}, shared=False)
    assert "--backend torch`" in only_torch  # the predictor's name for PyTorch fp32
    # A shared app's visitor cannot reach the run's folder on the server: the command serves their download.
    shared = ET.speed_markdown(records, "/w/runs/a", distrusted, shared=True)
    assert "/w/runs/a" not in shared and "`bertstudio serve my-model --backend onnx` on its unzipped download" in shared


# --- predict: pure builders ---------------------------------------------------------------------------


def test_probability_chart_puts_the_predicted_class_on_top():
    fig = charts.probability_chart(["billing", "delivery", "praise"], [0.1, 0.85, 0.05])
    bar = fig.data[0]
    assert bar.orientation == "h" and list(bar.y) == ["delivery", "billing", "praise"]
    assert list(bar.x) == [0.85, 0.1, 0.05] and list(bar.text) == ["85%", "10%", "5%"]
    assert bar.marker.color[0] == charts.MAIN_COLOR and bar.marker.color[1] != charts.MAIN_COLOR
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.xaxis.tickformat == ".0%"
    assert "delivery (85%)" in fig.layout.title.text
    many = charts.probability_chart([f"c{i}" for i in range(28)], [1 / 28] * 28)
    assert many.layout.height > fig.layout.height  # every class keeps a readable bar


def test_predict_view_builders():
    assert predict_tab.backend_choices(["torch", "torch-bf16", "onnx"]) == [
        ("Automatic", "auto"), ("PyTorch (as trained)", "torch"), ("PyTorch bf16", "torch-bf16"), ("ONNX", "onnx"),
        ("ONNX INT8 · not exported yet", "onnx-int8")]
    assert predict_tab.prediction_markdown("praise", 0.931) == "### Predicted: praise\nThe model is **93.1%** sure."
    assert "A guess" in predict_tab.prediction_markdown("praise", 0.41)
    info = {"labels": LABELS, "backend": "onnx-int8", "max_length": 24, "text_pair": True}
    line = predict_tab.model_markdown(info)
    assert "ONNX INT8 export" in line and "**3 classes:** negative, neutral, positive" in line
    assert "24 tokens" in line and "pairs of texts" in line and "Note" not in line
    noted = predict_tab.model_markdown({**info, "notes": ["UNFINISHED: it was stopped at step 40."]})
    assert noted.endswith("\n\n**Note:** UNFINISHED: it was stopped at step 40.")
    err = missing_export_error("onnx")
    assert "no ONNX export" in err.message and "Export tab" in err.hint
    note = Finding("info", "no_header", "Its first line reads as a text.", hint="Nothing to do.")
    result = PredictFileResult(rows=1200, out_path=Path("p.csv"), seconds=2.0, backend="torch",
                               label_counts={"a": 200, "b": 1000}, text_column="text", notes=(note,),
                               other_columns=("id", "date"))
    text = predict_tab.file_result_markdown(result, "mail.csv")
    assert "per class, then the file's other columns (id, date)." in text
    assert "1,200 rows of mail.csv" in text and "600 rows per second" in text and text.index("b **1,000**") < \
        text.index("a **200**")
    assert "**Note:** Its first line reads as a text. Nothing to do." in text  # how the file was read


# --- the handlers on a tiny run in a workspace -----------------------------------------------------------


@pytest.fixture(scope="module")
def workspace_run(tmp_path_factory):
    store = SessionStore(tmp_path_factory.mktemp("data"))
    workspace = store.open(None)
    run = make_tiny_run(workspace.runs / "20260101-000000-tiny")
    return store, workspace, run


@pytest.fixture(scope="module")
def jobs() -> JobRegistry:
    return JobRegistry()


@pytest.fixture(scope="module")
def predictors() -> PredictorCache:
    return PredictorCache()


def test_export_job_writes_into_the_workspace_and_the_cards_show_it(workspace_run, jobs):
    store, ws, run = workspace_run
    job = ET.start_export(jobs, ws, str(run), "onnx-int8")
    with pytest.raises(UserError, match="already running"):
        ET.start_export(jobs, ws, str(run), "onnx")
    assert job.wait(timeout=120)
    snap = job.snapshot()
    assert not snap.running and not snap.error and snap.done == ("onnx-int8",) and snap.seconds > 0
    assert job.claim_outcome() and not job.claim_outcome()  # its warnings pop up once, not at every tick

    result = read_export(RunFolder(run).export("onnx-int8"))
    assert result is not None and ws.owns(result.folder) and result.path.name == "model.int8.onnx"
    assert result.size_bytes == result.path.stat().st_size and result.parity.rows == 48
    zipped = ET.zip_path_for(ws.exports, run, "onnx-int8")
    assert zipped.parent == ws.exports
    with zipfile.ZipFile(zipped) as archive:
        assert {"model.int8.onnx", "export.json", "preprocessing.json", "README.md"} <= set(archive.namelist())

    # A shared app (no data folder given) names no folder: no server path, no workspace id, no layout.
    view = ET.export_view(ws, str(run), snap, build_zips=False)
    assert view.zips == [None, None, zipped, None]  # in EXPORT_FORMATS order: hf, onnx, onnx-int8, torchscript
    assert "of 48 test texts" in view.cards[2] and "Not exported yet." in view.cards[1]
    assert view.cards[2].startswith("#### ONNX INT8") and "Ready: **" in view.cards[2]
    assert ws.id not in view.cards[2] and "sessions" not in view.cards[2] and "exports/" not in view.cards[2]
    # A local app says where, within its data folder.
    local = ET.export_view(ws, str(run), snap, build_zips=False, data_dir=store.root.parent).cards[2]
    assert f"Saved in your data folder (`{store.root.parent.as_posix()}`): " \
           f"`sessions/{ws.id}/runs/{run.name}/exports/onnx-int8`" in local
    assert ET.status_markdown(snap, str(run)).startswith("**Exported ONNX INT8**")
    assert ET.benchmark_records(jobs, ws) == []  # nothing benchmarked in this workspace

    stranger = store.open(None)
    with pytest.raises(UserError, match="does not belong"):
        ET.start_export(jobs, stranger, str(run), "onnx")


def test_a_failed_export_is_reported_not_raised(tmp_path, jobs):
    ws = SessionStore(tmp_path / "data").open(None)
    run = make_tiny_run(ws.runs / "20260101-000000-broken")
    (run / "model" / "model.safetensors").write_bytes(b"not weights")
    job = ET.start_export(jobs, ws, str(run), "onnx")
    assert job.wait(timeout=60)
    snap = job.snapshot()
    assert not snap.running and snap.error and snap.done == ()
    assert "Traceback" not in snap.error
    assert ET.status_markdown(snap, str(run)).startswith("**The export stopped:**")
    assert not RunFolder(run).exports.exists()


def _exported(jobs, ws, run: Path, fmt: str) -> None:
    if read_export(RunFolder(run).export(fmt)) is None:
        assert ET.start_export(jobs, ws, str(run), fmt).wait(timeout=120)


def test_predict_a_typed_text_with_each_backend(workspace_run, jobs, predictors):
    _, ws, run = workspace_run
    torch_answer = predict_tab.predict_text(predictors, ws, str(run), "auto", "the parcel was late and awful")
    assert torch_answer.label in LABELS and torch_answer.label_names == LABELS
    assert sum(torch_answer.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert torch_answer.confidence == pytest.approx(max(torch_answer.probabilities))
    assert predictors.get(run, "auto") is predictors.get(run, "auto")  # loaded once

    _exported(jobs, ws, run, "onnx-int8")
    int8_answer = predict_tab.predict_text(predictors, ws, str(run), "onnx-int8", "the parcel was late and awful")
    assert int8_answer.label_names == LABELS
    assert int8_answer.probabilities == pytest.approx(torch_answer.probabilities, abs=0.05)
    assert "onnx-int8" in predict_tab.available_backends(run)

    with pytest.raises(ModelError, match="no TorchScript export") as missing:
        predict_tab.predict_text(predictors, ws, str(run), "torchscript", "hello")
    assert "Export tab" in missing.value.hint
    with pytest.raises(DataError, match="no text"):
        predict_tab.predict_text(predictors, ws, str(run), "auto", "   ")


def test_label_a_file_into_the_workspace(workspace_run, predictors, tmp_path):
    _, ws, run = workspace_run
    source = tmp_path / "mail.csv"
    pd.DataFrame({"id": range(30), "body": sample_texts(30)}).to_csv(source, index=False)
    saved = predict_tab.save_upload(ws, source, original_name="mail.csv")
    found = predict_tab.guess_columns(ws, str(run), saved)
    assert found.columns == ["id", "body"] and found.text == "body" and not found.text_pair_needed

    job = predict_tab.file_labelling(predictors, ws, str(run), "auto", str(saved), "body", None)
    assert JobRegistry().start(ws.id, job).wait(120)
    assert isinstance(job.outcome, Completed), job.outcome
    result = job.outcome.value
    assert ws.owns(result.out_path) and result.out_path.parent == ws.root / "predictions"
    assert result.rows == 30 and job.rows_done == 30
    out = pd.read_csv(result.out_path)
    assert list(out.columns[:3]) == ["text", "label", "confidence"] and set(out["label"]) <= set(LABELS)

    with pytest.raises(UserError, match="does not belong"):
        predict_tab.file_labelling(predictors, ws, str(run), "auto", str(source), "body", None)
    with pytest.raises(DataError, match="No file"):
        predict_tab.file_labelling(predictors, ws, str(run), "auto", None, None, None)


def _mail(tmp_path, rows: int) -> Path:
    source = tmp_path / "mail.csv"
    pd.DataFrame({"id": range(rows), "body": sample_texts(rows)}).to_csv(source, index=False)
    return source


class _Page:
    """The ``gr.Request`` of a page: its session hash is what closing the page is known by."""

    session_hash = "page-1"


def test_labelling_a_file_past_the_row_limit_stops_and_says_so(tmp_path):
    """A 4.4-million-row file was labelled for hours on a demo; past the row limit labelling now stops at the piece
    that passes it, leaves no predictions behind, and the page says which limit."""
    ctx, handlers, components, ws = tab_page(tmp_path / "data", predict_tab.build, limits=UsageLimits(max_rows=10))
    run = make_tiny_run(ws.runs / "20260101-000000-tiny")
    saved = predict_tab.save_upload(ws, _mail(tmp_path, 30), original_name="mail.csv")
    with pytest.warns(UserWarning, match="row limit"):
        shown = list(handlers["on_file"](ws, str(run), "auto", str(saved), "body", None, _Page()))
    final = shown[-1][components["predict-file-result"]]
    assert final.startswith("**mail.csv was not labelled.** The file has more than 10 rows; this demo labels at "
                            "most 10 rows per file (row limit).") and "duplicate the Space" in final
    assert not (ws.root / "predictions").exists() or not any((ws.root / "predictions").iterdir())


def test_labelling_stops_at_the_time_limit_and_when_its_page_closes(tmp_path, predictors, monkeypatch):
    ws = SessionStore(tmp_path / "data").open(None)
    run = make_tiny_run(ws.runs / "20260101-000000-tiny")
    saved = predict_tab.save_upload(ws, _mail(tmp_path, 30), original_name="mail.csv")
    predictor = predictors.get(run, "auto")
    real_time = time.time

    class Clock:  # an hour passes as soon as the first rows are labelled
        @staticmethod
        def time():
            return real_time() + (3600 if capped.rows_done else 0)

    monkeypatch.setattr(limits_module, "time", Clock)
    capped = LabelFileJob(predictor, saved, ws.root / "out.csv", text_column="body", chunk_rows=10,
                          limits=UsageLimits(max_predict_minutes=5))
    assert JobRegistry().start(ws.id, capped).wait(60)
    assert isinstance(capped.outcome, Stopped) and capped.rows_done == 10
    assert "limit of 5 minutes per file (time limit)" in capped.outcome.message
    assert not (ws.root / "out.csv").exists()

    # Closing the page that started it stops it; another page of the same visitor stops nothing.
    jobs, release = JobRegistry(), threading.Event()
    waiting = LabelFileJob(predictor, saved, ws.root / "out2.csv", text_column="body")
    waiting.page = "page-1"
    blocker = jobs.start(ws.id, _Held(release))  # holds the heavy line: the labelling waits for its turn
    jobs.start(ws.id, waiting)
    assert jobs.place(waiting) is not None, "labelling waits in the exports' line"
    assert jobs.stop_page(ws.id, "page-2") == [] and waiting.running
    assert jobs.stop_page(ws.id, "page-1") == [waiting]
    assert waiting.wait(10) and isinstance(waiting.outcome, Stopped) and waiting.rows_done == 0
    release.set()
    assert blocker.wait(10)


class _Held(BackgroundJob):
    """An export that holds its slot until released."""

    kind = EXPORT

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def work(self, emit, should_stop):
        self.release.wait(30)


def test_the_usage_note_s_bertstudio_lines_run_as_written(tmp_path):
    """The Export tab's snippet is pasted by people as it stands: it once imported a module that did not exist."""
    import re

    code = re.search(r"```python\n(.*?)```", ET.USAGE, re.S).group(1)
    ours = code[code.index("# Any folder"):].replace('"my-model"', repr(str(make_tiny_run(tmp_path / "run"))))
    printed: list = []
    exec(compile(ours, "USAGE", "exec"), {"print": printed.append})
    assert printed[0][0]["label"] in LABELS
