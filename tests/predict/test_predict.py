"""Predictor: same preprocessing as training, input order kept, calibrated probabilities, streamed files."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import LABELS, make_tiny_run, sample_texts

from bertstudio.errors import ConfigError, DataError, ModelError
from bertstudio.predict import files
from bertstudio.predict.cli import rows_progress
from bertstudio.predict.files import estimate_rows, predict_file
from bertstudio.predict.predictor import Predictor, load_predictor
from bertstudio.safe_csv import escape_formula


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("predict-run"))


@pytest.fixture(scope="module")
def predictor(run_dir):
    return load_predictor(run_dir)


def direct_logits(run_dir: Path, texts, pairs=None, max_length=24) -> np.ndarray:
    """One text at a time straight through transformers: no batching, no padding, nothing of ours."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_dir / "model")
    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "model").eval()
    rows = []
    with torch.no_grad():
        for i, text in enumerate(texts):
            enc = tok(text, pairs[i] if pairs else None, truncation=True, max_length=max_length, return_tensors="pt")
            rows.append(model(**enc).logits[0].numpy())
    return np.stack(rows)


def test_logits_match_the_model_in_input_order(run_dir, predictor):
    texts = sample_texts(20) + ["word " * 200]  # varied lengths, one longer than max_length
    np.testing.assert_allclose(predictor.logits(texts), direct_logits(run_dir, texts), atol=1e-5)


def test_pytorch_on_a_cpu_pads_batches_to_a_few_lengths(run_dir, monkeypatch):
    """A CPU's kernels keep state per batch shape: a long-running serve must not meet every length there is."""
    fresh = load_predictor(run_dir, batch_size=4)
    widths = []
    model_logits = fresh.backend.logits
    monkeypatch.setattr(fresh.backend, "logits", lambda batch: widths.append(batch["input_ids"].shape[1])
                        or model_logits(batch))
    texts = [" ".join(["word"] * n) for n in range(1, 30)]
    np.testing.assert_allclose(fresh.logits(texts), direct_logits(run_dir, texts), atol=1e-5)
    assert set(widths) <= {8, 16, 24} and len(widths) > 1  # cpu_length_buckets(24): the run's maximum length


def test_bf16_backend_runs_the_same_weights_in_bfloat16(run_dir, predictor):
    import torch

    fast = load_predictor(run_dir, backend="torch-bf16")
    assert fast.backend.name == "torch-bf16" and fast.backend.file == predictor.backend.file
    assert next(fast.backend.model.parameters()).dtype == torch.bfloat16
    texts = sample_texts(20)
    fp32, bf16 = predictor.logits(texts), fast.logits(texts)
    assert bf16.dtype == np.float32 and np.abs(bf16 - fp32).max() < 0.1  # bf16 keeps ~3 significant digits
    assert "torch-bf16" in predictor.location.available_backends()


def test_prediction_batch_is_consistent(predictor):
    batch = predictor.predict(["good film", "awful service", "okay"])
    assert len(batch) == 3 and batch.label_names == LABELS
    np.testing.assert_allclose(batch.probs.sum(axis=1), 1.0, atol=1e-9)
    assert batch.labels == [LABELS[i] for i in batch.probs.argmax(axis=1)]
    np.testing.assert_allclose(batch.confidences, batch.probs.max(axis=1))
    record = batch.to_records()[0]
    assert set(record) == {"label", "confidence", "probabilities"} and set(record["probabilities"]) == set(LABELS)
    assert len(predictor.predict([])) == 0


def test_a_single_string_is_one_text_not_one_per_character(predictor, tmp_path):
    """`predict("a single string")` returned 15 labels, one per character: a str is a Sequence[str]."""
    one = predictor.predict("good film")
    assert len(one) == 1 and one.labels == predictor.predict(["good film"]).labels
    assert predictor.logits("good film").shape == (1, len(LABELS))
    pair_predictor = load_predictor(make_tiny_run(tmp_path / "pairs", text_pair=True))
    assert len(pair_predictor.predict("good film", "awful service")) == 1


def test_temperature_from_preprocessing_calibrates_probabilities(tmp_path, predictor):
    hot = load_predictor(make_tiny_run(tmp_path / "hot", temperature=2.0))
    texts = sample_texts(6)
    logits = predictor.logits(texts)
    expected = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum(axis=1, keepdims=True)
    result = hot.predict(texts)
    np.testing.assert_allclose(result.probs, expected, atol=1e-6)
    assert result.labels == predictor.predict(texts).labels  # temperature never changes the label


def test_pair_model_needs_and_uses_second_texts(tmp_path):
    run = make_tiny_run(tmp_path / "pairs", text_pair=True)
    pair_predictor = load_predictor(run)
    texts, pairs = sample_texts(5), list(reversed(sample_texts(5)))
    with pytest.raises(DataError, match="pairs"):
        pair_predictor.predict(texts)
    with pytest.raises(DataError, match="second texts"):
        pair_predictor.predict(texts, pairs[:2])
    np.testing.assert_allclose(pair_predictor.logits(texts, pairs), direct_logits(run, texts, pairs), atol=1e-5)


def test_unknown_backend_and_missing_export_are_user_errors(run_dir):
    with pytest.raises(ConfigError, match="Unknown backend"):
        load_predictor(run_dir, backend="tensorflow")
    with pytest.raises(ModelError, match="bertstudio export"):
        load_predictor(run_dir, backend="onnx")


@pytest.mark.parametrize("cell, expected", [
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-1", "-1"), ("+3.5", "+3.5"), ("plain text", "plain text"), ("", ""),
    ("a=b", "a=b"),
])
def test_escape_formula(cell, expected):
    assert escape_formula(cell) == expected


def test_predict_file_writes_every_row_in_order_with_escaped_cells(tmp_path, predictor):
    texts = ["=HYPERLINK(\"http://x\")", "+add", "-1", "@me", "good film", "fine, \"quoted\"\nnew line"]
    data = tmp_path / "in.csv"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(data, index=False)
    result = predict_file(predictor, data, tmp_path / "out" / "preds.csv")
    out = pd.read_csv(tmp_path / "out" / "preds.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["text", "label", "confidence"] + [f"prob_{n}" for n in LABELS] + ["id"]
    assert out["id"].tolist() == [str(i) for i in range(len(texts))]  # each prediction beside the rest of its row
    assert out["text"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+add", "-1", "'@me", "good film",
                                    "fine, \"quoted\"\nnew line"]
    expected = predictor.predict(texts)
    assert out["label"].tolist() == expected.labels
    np.testing.assert_allclose(out[[f"prob_{n}" for n in LABELS]].astype(float), expected.probs, atol=1e-5)
    assert result.rows == len(texts) and sum(result.label_counts.values()) == len(texts)
    assert "Predicted 6 rows" in result.describe()
    assert not list((tmp_path / "out").glob(".*tmp*"))  # the temporary file was renamed into place


def test_streaming_reads_in_chunks_with_bounded_memory(tmp_path, predictor, monkeypatch):
    """24,000 rows in chunks of 2,000: the reader is chunked, and traced memory stays far below what
    holding the whole file would take.  A stand-in backend keeps this about reading and writing."""

    rows = 24_000
    data = tmp_path / "big.csv"
    with data.open("w", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for i in range(rows):
            handle.write(f"{i},review number {i} was {'good' if i % 2 else 'bad'} overall\n")

    class ParityOfLength:
        name, file = "stub", Path("stub")

        def logits(self, batch):
            odd = batch["attention_mask"].sum(axis=1) % 2
            return np.stack([odd, 1 - odd, np.zeros_like(odd)], axis=1).astype(np.float32)

    fast = Predictor(ParityOfLength(), predictor.tokenizer, predictor.prep, predictor.location, 512)
    chunk_sizes = []
    real_reader = files.iter_table_chunks

    def spy(*args, **kwargs):
        for chunk in real_reader(*args, **kwargs):
            chunk_sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(files, "iter_table_chunks", spy)
    progress = []
    tracemalloc.start()
    try:
        result = predict_file(fast, data, tmp_path / "preds.csv", chunk_rows=2_000, on_progress=progress.append)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chunk_sizes == [2_000] * 13  # the first rows, read once more to tell which column holds the texts
    assert progress == list(range(2_000, rows + 1, 2_000))
    assert result.rows == rows
    # Reading and tokenizing all 24,000 rows at once peaks near 40 MB; one chunk at a time stays near 4 MB.
    assert peak < 12e6, f"peak traced memory {peak / 1e6:.1f} MB"
    with (tmp_path / "preds.csv").open(encoding="utf-8") as handle:
        lines = handle.readlines()
    assert len(lines) == rows + 1
    assert lines[1].startswith("review number 0 was bad") and lines[-1].startswith(f"review number {rows - 1} ")


def test_the_files_other_columns_follow_the_predictions_escaped_and_never_overwritten(tmp_path, predictor):
    data = tmp_path / "labelled.csv"
    pd.DataFrame({"customer": ["=cmd", "B7"], "review": ["good film", "bad film"], "label": ["pos", "neg"],
                  "label_in_file": ["x", "y"]}).to_csv(data, index=False)
    result = predict_file(predictor, data, tmp_path / "out.csv")
    assert result.other_columns == ("customer", "label", "label_in_file")  # as the file names them
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["text", "label", "confidence", *[f"prob_{n}" for n in LABELS], "customer",
                                 "label_in_file", "label_in_file_in_file"]
    assert out["customer"].tolist() == ["'=cmd", "B7"]
    assert out["label_in_file"].tolist() == ["pos", "neg"]  # the file's own labels, beside the predicted ones
    assert out["label_in_file_in_file"].tolist() == ["x", "y"]
    assert out["label"].tolist() == predictor.predict(["good film", "bad film"]).labels


def test_predict_says_how_the_file_was_read_as_inspect_does(tmp_path, predictor):
    texts = ["I loved this film, truly a delight", "Dull and far too long", "Not for me."]
    plain, headerless = tmp_path / "plain.csv", tmp_path / "headerless.csv"
    pd.DataFrame({"text": texts}).to_csv(plain, index=False)
    headerless.write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert predict_file(predictor, plain, tmp_path / "a.csv").notes == ()
    result = predict_file(predictor, headerless, tmp_path / "b.csv")
    assert result.rows == 3 and [note.code for note in result.notes] == ["no_header"]
    assert result.to_dict()["notes"] == [result.notes[0].message]


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".xlsx", ".tsv"])
def test_other_formats_stream_too(tmp_path, predictor, suffix):
    frame = pd.DataFrame({"review": sample_texts(7), "stars": list(range(7))})
    data = tmp_path / f"in{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(data)
    elif suffix == ".jsonl":
        frame.to_json(data, orient="records", lines=True)
    elif suffix == ".xlsx":
        frame.to_excel(data, index=False)
    else:
        frame.to_csv(data, sep="\t", index=False)
    result = predict_file(predictor, data, tmp_path / "out.csv", chunk_rows=3)
    out = pd.read_csv(tmp_path / "out.csv")
    assert result.text_column == "review" and out["text"].tolist() == frame["review"].tolist()
    assert out["label"].tolist() == predictor.predict(frame["review"].tolist()).labels


def test_text_column_problems_are_user_errors(tmp_path, predictor):
    data = tmp_path / "two.csv"
    pd.DataFrame({"a": ["x"], "b": ["y"]}).to_csv(data, index=False)
    with pytest.raises(DataError, match="--text"):
        predict_file(predictor, data, tmp_path / "o.csv")
    with pytest.raises(DataError, match="no column named 'c'"):
        predict_file(predictor, data, tmp_path / "o.csv", text_column="c")
    assert predict_file(predictor, data, tmp_path / "o.csv", text_column="b").rows == 1
    header_only = tmp_path / "empty.csv"
    header_only.write_text("text\n")
    with pytest.raises(DataError, match="no data rows"):
        predict_file(predictor, header_only, tmp_path / "o2.csv")
    assert not (tmp_path / "o2.csv").exists()


SENTENCES = [f"the parcel number {i} came late and the box was broken" for i in range(30)]


def test_a_column_named_text_holding_categories_is_passed_over_for_the_texts(tmp_path, predictor):
    """A tester's file: 'text' holds the channel (3 values), 'message' the sentences; predict read 'text' and gave
    every row one label without a word."""
    data = tmp_path / "channel.csv"
    pd.DataFrame({"text": ["web form", "email", "phone call"] * 10, "message": SENTENCES}).to_csv(data, index=False)
    result = predict_file(predictor, data, tmp_path / "o.csv")
    assert result.text_column == "message"
    (note,) = result.notes
    assert note.code == "text_column_chosen" and "Read the texts from 'message'" in note.message
    assert "'text', the column the model was trained on, holds only 3 different short values" in note.message
    chosen = predict_file(predictor, data, tmp_path / "o2.csv", text_column="text")
    (warning,) = chosen.notes
    assert warning.level == "warning" and "--text message" in warning.hint


@pytest.mark.parametrize("columns, expected", [
    ({"comment": SENTENCES, "label": ["a", "b", "c"] * 10}, "comment"),
    ({"subject": ["Order question"] * 30, "body": SENTENCES, "label": ["a", "b", "c"] * 10}, "body"),
])
def test_predict_reads_the_column_of_texts_when_the_training_s_is_missing(tmp_path, predictor, columns, expected):
    """'comment,label' was refused ("Could not tell which column holds the texts") where evaluate read 'comment'."""
    data = tmp_path / "other.csv"
    pd.DataFrame(columns).to_csv(data, index=False)
    result = predict_file(predictor, data, tmp_path / "o.csv")
    assert result.text_column == expected
    assert [n.message for n in result.notes] == [f"Read the texts from '{expected}': the file has no column 'text', "
                                                 "which the model was trained on."]


def test_predict_cli(run_dir, tmp_path, capsys):
    from bertstudio.cli import main

    data = tmp_path / "in.csv"
    pd.DataFrame({"text": sample_texts(9)}).to_csv(data, index=False)
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "p.csv"),
                 "--batch-size", "4"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rows"] == 9 and summary["backend"] == "torch"
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "q.csv"),
                 "--text", "nope"]) == 2
    assert "no column named 'nope'" in capsys.readouterr().err


def test_a_damaged_weights_file_is_a_readable_error(tmp_path):
    from helpers import make_tiny_run

    from bertstudio.errors import ModelError
    from bertstudio.predict.predictor import load_predictor

    run = make_tiny_run(tmp_path / "run")
    weights = run / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as after a failed copy
    with pytest.raises(ModelError, match="Could not load the model"):
        load_predictor(run, backend="torch")


def _cli_error(capsys, *args) -> str:
    from bertstudio.cli import main

    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_predict_refuses_an_out_it_cannot_write_before_loading_the_model(run_dir, tmp_path, capsys, monkeypatch):
    """`--out /sys/p.csv` ended in a PermissionError traceback; a file in the way is named."""
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": sample_texts(3)}).to_csv(data, index=False)
    monkeypatch.setattr("bertstudio.predict.cli.load_predictor", lambda *a, **k: pytest.fail("model loaded"))
    err = _cli_error(capsys, "predict", run_dir, "--data", data, "--out", "/proc/nothing-here/p.csv")
    assert "Cannot create or write into /proc/nothing-here (--out /proc/nothing-here/p.csv)" in err
    err = _cli_error(capsys, "predict", run_dir, "--data", data, "--out", data / "p.csv")
    assert f"--out {data / 'p.csv'} cannot be used: {data} is a file, not a folder." in err


@pytest.mark.parametrize("data,out,words", [
    ("missing.csv", "p.csv", "The file 'missing.csv' was not found."),
    ("folder", "p.csv", "'folder' is a folder, not a file."),
    ("in.csv", "folder", "The output 'folder' names a folder; predictions are written to a file."),
    ("in.csv", "in.csv", "The output file is the data file itself"),
    ("in.csv", "p.xlsx", "Predictions are written as a CSV file, so 'p.xlsx' would not open as a .xlsx file."),
])
def test_predict_checks_the_data_and_out_before_loading_the_model(run_dir, tmp_path, capsys, monkeypatch, data, out,
                                                                   words):
    """Each was said only after the model had loaded and an empty "Predicting: 0 rows" bar had been shown."""
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"text": sample_texts(3)}).to_csv("in.csv", index=False)
    (tmp_path / "folder").mkdir()
    monkeypatch.setattr("bertstudio.predict.cli.load_predictor", lambda *a, **k: pytest.fail("model loaded"))
    assert words in _cli_error(capsys, "predict", run_dir, "--data", data, "--out", out)


def test_a_data_file_given_as_the_model_is_named_as_such(tmp_path, capsys):
    """`predict data.csv --data unlabeled.csv` said "No trained model was found in '.'"."""
    data = tmp_path / "data.csv"
    pd.DataFrame({"text": sample_texts(3), "label": ["a", "b", "a"]}).to_csv(data, index=False)
    err = _cli_error(capsys, "predict", data, "--data", "unlabeled.csv", "--out", tmp_path / "x.csv")
    assert f"'{data}' is a data file, not a trained model: the model is asked for first" in err
    assert "Give the run folder as the first argument and data.csv with --data" in err
    assert "bertstudio runs list" in err
    # Every command and the app read models through locate_model: each says the same, with its own command to type
    # (serve and export suggested `bertstudio predict runs/RUN --data data.csv`).
    for command in ("serve", "export", "label-noise"):
        err = _cli_error(capsys, command, data)
        assert "is a data file" in err and f"for example `bertstudio {command} runs/RUN`;" in err
        assert "--data" not in err and "predict" not in err
    err = _cli_error(capsys, "evaluate", data, "--data", data)
    assert "is a data file" in err and "`bertstudio evaluate runs/RUN --data data.csv`" in err
    assert list(tmp_path.iterdir()) == [data]  # nothing written beside it


def test_a_model_file_is_still_taken_as_the_model(run_dir, tmp_path, capsys):
    from bertstudio.cli import main

    data = tmp_path / "in.csv"
    pd.DataFrame({"text": sample_texts(3)}).to_csv(data, index=False)
    weights = run_dir / "model" / "model.safetensors"
    assert main(["predict", str(weights), "--data", str(data), "--out", str(tmp_path / "p.csv")]) == 0


@pytest.mark.parametrize("flag,value", [("--chunk-rows", "0"), ("--chunk-rows", "-1"), ("--batch-size", "0"),
                                        ("--batch-size", "-1")])
def test_batch_and_chunk_sizes_must_be_positive(run_dir, tmp_path, capsys, flag, value):
    from bertstudio.cli import main

    with pytest.raises(SystemExit) as done:
        main(["predict", str(run_dir), "--data", "in.csv", "--out", str(tmp_path / "p.csv"), flag, value])
    assert done.value.code == 2
    assert f"argument {flag}: expected a whole number of at least 1, got '{value}'" in capsys.readouterr().err


def test_rows_without_a_text_get_no_label_and_are_named(tmp_path, predictor):
    """Empty, blank and invisible-only texts each got the same made-up label and confidence (serve refuses them);
    they now get empty cells and a note naming their rows; a file with no text at all is refused."""
    from bertstudio.predict.files import predict_file

    data = tmp_path / "in.csv"
    pd.DataFrame({"id": range(6), "text": ["good film", "", "   ", "\u200b", "bad film", None]}).to_csv(data,
                                                                                                   index=False)
    result = predict_file(predictor, data, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert out["id"].tolist() == list(range(6))
    assert out["label"].tolist()[0] != "" and out["label"].tolist()[1:4] == ["", "", ""]
    assert out["confidence"].tolist()[1] == "" and out["label"].tolist()[4] != ""
    assert result.rows == 6 and sum(result.label_counts.values()) == 2
    (note,) = [n for n in result.notes if n.code == "blank_texts"]
    assert "4 rows without a text in 'text' (rows 2, 3, 4, 6," in note.message
    assert "4 rows without a text" in result.to_dict()["notes"][-1]

    empty = tmp_path / "empty.csv"
    pd.DataFrame({"text": ["", " "], "id": [1, 2]}).to_csv(empty, index=False)
    with pytest.raises(DataError, match="None of the 2 rows of 'empty.csv' has a text in 'text'"):
        predict_file(predictor, empty, tmp_path / "none.csv")
    assert not (tmp_path / "none.csv").exists()


@pytest.mark.parametrize("name", ["out.xlsx", "out.parquet"])
def test_predictions_are_not_written_as_csv_under_another_format_s_name(tmp_path, predictor, name):
    from bertstudio.predict.files import predict_file

    data = tmp_path / "in.csv"
    pd.DataFrame({"text": ["good film"]}).to_csv(data, index=False)
    with pytest.raises(DataError, match="written as a CSV file") as caught:
        predict_file(predictor, data, tmp_path / name)
    assert caught.value.hint == f"Name the output {name.split('.')[0]}.csv." and not (tmp_path / name).exists()


@pytest.mark.parametrize("content, name, rows", [("text\na\nb\nc\n", "f.csv", 3), ("text\na\nb", "f.csv", 2),
                                                 ('{"text": "a"}\n{"text": "b"}\n', "f.jsonl", 2),
                                                 ("text\n", "f.tsv", 0)])
def test_estimate_rows_counts_lines_cheaply(tmp_path, content, name, rows):
    path = tmp_path / name
    path.write_text(content)
    assert estimate_rows(path) == rows


def test_estimate_rows_of_parquet_and_excel(tmp_path):
    pd.DataFrame({"text": ["a", "b"]}).to_parquet(tmp_path / "f.parquet")
    assert estimate_rows(tmp_path / "f.parquet") == 2
    assert estimate_rows(tmp_path / "f.xlsx") is None  # read whole anyway: no cheap count


def test_estimate_rows_of_an_unreadable_file_is_none(tmp_path):
    """The count is only for a progress bar: reading the file says what is wrong with it, in its own words."""
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    assert estimate_rows(tmp_path / "bad.parquet") is None
    assert estimate_rows(tmp_path / "missing.csv") is None


def test_the_command_bar_counts_rows_of_the_estimate(capsys):
    with rows_progress(5) as advance:
        advance(2)
        advance(5)
    err = capsys.readouterr().err
    assert "5/5" in err and "rows" in err
