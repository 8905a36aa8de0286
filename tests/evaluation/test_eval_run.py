"""End to end on a tiny trained run: `bertstudio evaluate`, finalize_run, label-noise, baselines, seeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bertstudio.cli import main
from bertstudio.evaluation.report import calibrate_run, finalize_run, read_preprocessing
from bertstudio.errors import DataError
from bertstudio.evaluation.run import evaluate_run, load_run_error_table, matched_label_ids
from bertstudio.runs import EVAL_FILE, VALIDATION_LOGITS_FILE

REQUIRED_KEYS = {"accuracy", "macro_f1", "micro_f1", "weighted_f1", "per_class", "labels", "confusion_matrix",
                 "confusion_matrix_normalized", "log_loss", "ece", "ece_calibrated", "temperature", "roc_auc",
                 "pr_auc", "reliability"}
WORDS = {"billing": "invoice refund charge payment receipt", "delivery": "parcel courier late shipping box",
         "praise": "great lovely wonderful thanks happy"}


def write_csv(path: Path, rows_per_class: int, labels=WORDS) -> Path:
    lines = ["text,label"]
    for i in range(rows_per_class):
        for label in labels:
            w = WORDS.get(label, "misc other stuff things words").split()
            lines.append(f"\"{w[i % 5]} {w[(i + 2) % 5]} note {i}\",{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tiny_config(data: Path, model_dir: Path, out: Path, **extra):
    from bertstudio.config import config_from_preset

    settings = dict(data=str(data), model=str(model_dir), output_dir=str(out), max_length=16, batch_size=16,
                    max_steps=4, precision="fp32", early_stopping_patience=0)
    return config_from_preset(**{**settings, **extra})


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_bert_dir) -> Path:
    """A finished run of a tiny random-weight BERT: 150 rows, so validation has 22 rows to calibrate on."""
    from bertstudio.train.pipeline import train

    folder = tmp_path_factory.mktemp("eval-run")
    data = write_csv(folder / "train.csv", 50)
    train(tiny_config(data, tiny_bert_dir, folder / "run"))
    return folder / "run"


@pytest.fixture
def run(trained_run, tmp_path) -> Path:
    """A private copy, so tests that write into the run do not see each other's files."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def last_json_line(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_evaluate_cli_writes_eval_json_and_saves_the_temperature(run, capsys):
    assert main(["evaluate", str(run)]) == 0
    headline = last_json_line(capsys)
    saved = json.loads((run / EVAL_FILE).read_text())
    assert REQUIRED_KEYS <= set(saved)
    summary = json.loads((run / "summary.json").read_text())
    assert saved["accuracy"] == pytest.approx(summary["accuracy"]), "same model, same test rows, same figures"
    assert saved["macro_f1"] == pytest.approx(summary["macro_f1"])
    # One meaning of log loss in both files: the probabilities the run ships (temperature-scaled); eval.json's was
    # of the uncalibrated ones, and its own name says so now
    assert saved["log_loss"] == pytest.approx(summary["metrics"]["loss"], abs=1e-5)
    assert saved["log_loss_uncalibrated"] != pytest.approx(saved["log_loss"])
    assert saved["rows"] == summary["metrics"]["rows"]
    assert headline["macro_f1"] == saved["macro_f1"] and headline["eval_file"] == str(run / EVAL_FILE)
    assert saved["calibration"]["rows"] >= 20 and saved["temperature"] > 0
    assert read_preprocessing(run).temperature == pytest.approx(saved["temperature"])
    assert saved["calibration"]["nll_after"] <= saved["calibration"]["nll_before"] + 1e-9
    assert len(saved["reliability"]["bins"]) == 15 and (run / VALIDATION_LOGITS_FILE).is_file()


def test_saved_validation_logits_keep_calibration_working_without_the_data(run):
    first = evaluate_run(run)
    config = json.loads((run / "config.json").read_text())
    Path(config["data"]).rename(Path(config["data"]).with_suffix(".moved"))
    try:
        again = evaluate_run(run)
        assert again.temperature == pytest.approx(first.temperature) and again.calibration.rows > 0
        (run / VALIDATION_LOGITS_FILE).unlink()
        kept = evaluate_run(run)  # no data, no saved logits: the run's temperature stays, with the reason
        assert kept.calibration.rows == 0 and "not found" in kept.calibration.note
        assert kept.temperature == pytest.approx(first.temperature)
    finally:
        Path(config["data"]).with_suffix(".moved").rename(config["data"])


def test_evaluate_on_another_file(run, tmp_path, capsys):
    other = write_csv(tmp_path / "shifted.csv", 4, labels=["billing", "praise"])
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    headline = last_json_line(capsys)
    saved = json.loads((run / "eval-shifted.json").read_text())
    assert REQUIRED_KEYS <= set(saved) and saved["rows"] == 8 and headline["rows"] == 8
    assert saved["per_class"]["delivery"]["support"] == 0 and saved["labels"] == ["billing", "delivery", "praise"]
    assert saved["evaluated_on"] == "file: shifted.csv"
    table = load_run_error_table(run, "predictions-shifted.csv")
    assert len(table) == 8 and set(table["label"]) == {"billing", "praise"}


def test_evaluate_reads_the_sheet_asked_for(run, tmp_path, capsys):
    """`evaluate --data book.xlsx --sheet NAME`, as train, inspect and predict take it."""
    import pandas as pd

    frame = pd.read_csv(write_csv(tmp_path / "rows.csv", 4))
    book = tmp_path / "book.xlsx"
    with pd.ExcelWriter(book) as writer:
        frame.to_excel(writer, sheet_name="All", index=False)
        frame[frame["label"] == "billing"].to_excel(writer, sheet_name="Billing only", index=False)
    assert main(["evaluate", str(run), "--data", str(book), "--sheet", "billing only"]) == 0
    assert last_json_line(capsys)["rows"] == 4
    assert main(["evaluate", str(run), "--data", str(book)]) == 0  # by default the first sheet, as in training
    assert last_json_line(capsys)["rows"] == 12


def test_labels_unseen_in_training_are_a_clear_error(run, tmp_path, capsys):
    other = write_csv(tmp_path / "new.csv", 3, labels=["billing", "returns"])
    assert main(["evaluate", str(run), "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert "'returns'" in err and "never trained on" in err and "Traceback" not in err
    assert not (run / "eval-new.json").exists()


def test_labels_differing_only_in_case_or_spaces_are_read_as_the_model_s_with_a_note():
    ids, note = matched_label_ids(["Billing", "BILLING", "praise", "billing"], ["billing", "praise"], where="x.csv")
    assert ids.tolist() == [0, 0, 1, 0]
    assert note.message == ("Read 'BILLING' as 'billing', 'Billing' as 'billing': the labels of x.csv differ from "
                            "the model's only in upper/lower case or spaces.")
    ids, note = matched_label_ids(["True", "False"], ["false", "true"], where="bool.csv")  # a run trained on Parquet
    assert ids.tolist() == [1, 0] and "'True' as 'true'" in note.message
    assert matched_label_ids(["praise"], ["billing", "praise"], where="x.csv")[1] is None


def test_a_label_matching_several_known_ones_but_for_case_is_refused_saying_so():
    with pytest.raises(DataError) as caught:
        matched_label_ids(["BILLING", "returns"], ["Billing", "billing"], where="x.csv")
    message = caught.value.message
    assert "never trained on: 'returns'" in message
    assert "differ only in upper/lower case" in message and "'BILLING' (the model knows 'Billing' and 'billing')" \
        in message


def test_evaluate_reads_another_text_column_and_label_spellings_and_says_so(run, tmp_path, capsys):
    """'comment,label' with labels typed 'Billing' and 'PRAISE ': refused before ("never trained on ... Fix the
    spelling"); the notes say which column and which spellings were read."""
    rows = write_csv(tmp_path / "rows.csv", 4, labels=["billing", "praise"]).read_text().splitlines()[1:]
    typed = [row.replace(",billing", ",Billing").replace(",praise", ",PRAISE ") for row in rows]
    other = tmp_path / "typed.csv"
    other.write_text("comment,label\n" + "\n".join(typed) + "\n", encoding="utf-8")
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    out = capsys.readouterr().out
    assert "Read the texts from 'comment': the file has no column 'text'" in out
    assert "Read 'Billing' as 'billing', 'PRAISE' as 'praise'" in out
    saved = json.loads((run / "eval-typed.json").read_text())
    assert saved["rows"] == 8 and len(saved["notes"]) == 2


def test_not_a_run_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a finished training run" in capsys.readouterr().err


def test_finalize_run_for_the_pipeline(run):
    rng = np.random.default_rng(0)
    val_labels, test_labels = rng.integers(0, 3, 200), rng.integers(0, 3, 100)
    over_confident = lambda y: (np.eye(3)[y] * 2 + rng.normal(size=(len(y), 3))) * 4  # noqa: E731
    names = ["billing", "delivery", "praise"]
    calibration = calibrate_run(run, val_logits=over_confident(val_labels), val_labels=val_labels, label_names=names)
    result = finalize_run(run, calibration, test_logits=over_confident(test_labels), test_labels=test_labels,
                          label_names=names)
    saved = json.loads((run / EVAL_FILE).read_text())
    assert REQUIRED_KEYS <= set(saved) and saved["rows"] == 100
    assert result.temperature > 1.5 and read_preprocessing(run).temperature == pytest.approx(result.temperature)
    assert saved["ece_calibrated"] < saved["ece"]
    assert (run / VALIDATION_LOGITS_FILE).is_file()


def test_error_table_of_the_test_predictions(run):
    table = load_run_error_table(run)
    summary = json.loads((run / "summary.json").read_text())
    assert len(table) == summary["metrics"]["rows"]
    assert table["correct"].mean() == pytest.approx(summary["accuracy"])


def test_baselines_are_added_to_eval_json(run, tiny_bert_dir, capsys):
    assert main(["evaluate", str(run), "--baselines", "--encoder", str(tiny_bert_dir)]) == 0
    saved = json.loads((run / EVAL_FILE).read_text())
    names = [b["name"] for b in saved["baselines"]]
    assert names[0] == "TF-IDF + logistic regression" and len(names) == 2
    for baseline in saved["baselines"]:
        assert 0 <= baseline["accuracy"] <= 1 and baseline["eval_rows"] == saved["rows"]
    assert saved["baselines"][0]["accuracy"] > 0.9, "the word lists make this data easy for TF-IDF"
    assert "baselines_macro_f1" in last_json_line(capsys)


def test_label_noise_cli(run, capsys):
    assert main(["label-noise", str(run), "--show", "3"]) == 0
    headline = last_json_line(capsys)
    assert headline["rows_checked"] > 100 and Path(headline["file"]).is_file()
    assert Path(headline["file"]).read_text().startswith("rank,training_row,text,given_label,suspected_label")


def test_a_named_encoder_that_cannot_load_is_refused_not_replaced(run, capsys):
    """`evaluate --baselines --encoder bert-basee` and `label-noise --encoder nope-model` ran the bundled encoder
    with exit 0, the scores read as the named model's."""
    for command in (["evaluate", str(run), "--baselines"], ["label-noise", str(run)]):
        assert main([*command, "--encoder", "nope-model"]) == 2
        assert "error: The encoder 'nope-model' cannot be used: " in capsys.readouterr().err
    assert not (run / "label_issues.csv").exists()


def test_the_bundled_encoder_stands_in_for_a_base_model_that_cannot_load_and_says_so():
    import pandas as pd

    from bertstudio.evaluation.features import DEFAULT_ENCODER, choose_encoder
    from bertstudio.evaluation.noise import LabelNoiseReport

    chosen = choose_encoder(None, "nope-model")
    assert chosen.name == DEFAULT_ENCODER
    assert chosen.note.startswith("The run's base model nope-model cannot be loaded here (The model nope-model is "
                                  "not on this computer")
    assert chosen.note.endswith("so the bundled encoder bundled-minilm stands in for it.")
    assert choose_encoder(None, DEFAULT_ENCODER) == choose_encoder(DEFAULT_ENCODER, "nope-model")
    assert choose_encoder(None, DEFAULT_ENCODER).note is None
    report = LabelNoiseReport(table=pd.DataFrame({"rank": []}), rows_checked=10, folds=2,
                              features="bundled-minilm encoder", note=chosen.note)
    assert report.summary() == ("0 of 10 training rows look mislabeled (2-fold check on bundled-minilm encoder). "
                                f"{chosen.note}")


def test_train_seeds_cli(tmp_path, tiny_bert_dir, capsys):
    data = write_csv(tmp_path / "train.csv", 10)
    out = tmp_path / "seeds"
    argv = ["train-seeds", str(data), "--seeds", "2", "--model", str(tiny_bert_dir), "--out", str(out),
            "--max-steps", "2", "--max-length", "16", "--precision", "fp32", "--seed", "7"]
    assert main(argv) == 0
    headline = last_json_line(capsys)
    assert headline["seeds"] == [7, 8]
    saved = json.loads((out / "seeds.json").read_text())
    f1s = [r["macro_f1"] for r in saved["runs"]]
    assert saved["mean_macro_f1"] == pytest.approx(np.mean(f1s))
    assert saved["std_macro_f1"] == pytest.approx(np.std(f1s, ddof=1))
    assert (out / "seed-7" / "summary.json").is_file() and (out / "seed-8" / "summary.json").is_file()
    assert json.loads((out / "seed-8" / "config.json").read_text())["seed"] == 8


def test_scoring_modules_import_without_heavy_libraries():
    """Scoring logits (metrics, calibration, eval.json) needs numpy alone: the report module stays usable
    where torch is not installed, e.g. to read a run's eval.json on another machine."""
    import subprocess
    import sys

    code = ("import sys, bertstudio.evaluation.metrics, bertstudio.evaluation.calibration, bertstudio.runs; "
            "print([m for m in ('torch', 'transformers', 'sklearn', 'cleanlab', 'gradio') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
    assert EVAL_FILE == "eval.json"


def test_read_eval_and_the_validation_only_note(run):
    from bertstudio.evaluation.calibration import TemperatureFit
    from bertstudio.evaluation.report import build_report, read_eval

    written_by_training = read_eval(run)  # training itself calibrates and writes eval.json
    assert written_by_training["temperature"] > 0 and "ece_calibrated" in written_by_training
    evaluate_run(run)
    assert read_eval(run)["rows"] > 0
    fit = TemperatureFit(1.5, 30, 1.0, 0.9, 0.2, 0.1)
    same_rows = build_report(np.eye(3) * 3, [0, 1, 2], ["a", "b", "c"], fit, evaluated_on="validation")
    assert "optimistic" in same_rows.calibration.note and same_rows.temperature == 1.5


@pytest.mark.parametrize("trained, fast_bf16, expected", [("bf16", True, "bf16"), ("bf16", False, "fp32"),
                                                          ("fp32", True, "fp32")])
def test_evaluate_runs_the_model_as_predict_runs_it_by_default(run, capsys, monkeypatch, trained, fast_bf16,
                                                               expected):
    """Tester: predict (auto: bf16 for a run trained in bf16, on a CPU that computes bf16 fast) and evaluate scored
    the same rows differently. One decision (predict.locate.auto_precision) for both, and evaluate says which."""
    from bertstudio import hardware
    from bertstudio.evaluation.run import open_run, predictions_dataset, run_logits
    from bertstudio.predict.predictor import load_predictor

    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "precision": trained}))
    monkeypatch.setattr(hardware, "fast_bf16_here", lambda: fast_bf16)
    predictor = load_predictor(run)
    loaded = open_run(run)
    assert predictor.backend.name == {"bf16": "torch-bf16", "fp32": "torch"}[expected]
    assert loaded.precision == expected
    assert next(loaded.model.parameters()).dtype == next(predictor.backend.model.parameters()).dtype
    dataset = predictions_dataset(loaded)
    np.testing.assert_allclose(run_logits(loaded, dataset), predictor.logits(dataset["text"]),
                               atol=0.05 if expected == "bf16" else 1e-5)
    assert main(["evaluate", str(run)]) == 0
    assert f"Ran the model in {expected}" in capsys.readouterr().out
