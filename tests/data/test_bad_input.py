"""Bad files through the command line: each one is either read right or refused in plain words saying what to do.

The corpus is built here (no binaries in the repository). Every file goes through ``inspect``, ``train``,
``predict`` and ``evaluate --data``; for each the test checks the exit status, that stderr holds a plain
message and no traceback, that a refusal says what to do, and that a refused file leaves no run folder.
docs/RELIABILITY.md lists the cases and what each gets; run them with
``python -m pytest tests/data/test_bad_input.py``.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import random
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import LABELS, make_tiny_run

from bertstudio.cli import EXIT_USER_ERROR, main

OK, REPORTED = 0, 1  # inspect exits 1 when its report holds an error
REFUSED = EXIT_USER_ERROR


# --------------------------------------------------------------------------- building files


def rows(n: int = 30) -> list[tuple[str, str]]:
    """Texts with the tiny run's labels, ten of each: valid everywhere, so only the damage under test counts."""
    words = ["parcel", "refund", "courier", "invoice", "great", "awful", "service", "late", "broken", "kind"]
    return [(f"the {words[i % 10]} was {words[(i * 3) % 10]} number {i}", LABELS[i % 3]) for i in range(n)]


def csv_text(records, header=("text", "label"), sep: str = ",", newline: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(records)
    return out.getvalue()


def good_csv() -> bytes:
    return csv_text(rows()).encode("utf-8")


def write(data: bytes | str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return build


def random_bytes(n: int, seed: int = 0, *, nul: bool = True) -> bytes:
    data = random.Random(seed).randbytes(n)
    return data if nul else data.replace(b"\0", b"\1")


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def workbook(records, header=("text", "label")) -> bytes:
    import pandas as pd

    out = io.BytesIO()
    pd.DataFrame(records, columns=list(header)).to_excel(out, index=False)
    return out.getvalue()


def parquet(records) -> bytes:
    import pandas as pd

    out = io.BytesIO()
    pd.DataFrame(records, columns=["text", "label"]).to_parquet(out)
    return out.getvalue()


def folder(path: Path) -> None:
    path.mkdir()


def nothing(path: Path) -> None:
    """A file that does not exist."""


FRENCH = ["Le colis est arrivé en retard, très déçu", "Service après-vente très réactif, merci beaucoup",
          "Café trop cher: 30 € pour rien", "Livraison rapide, emballage soigné, je recommande"]
RUSSIAN = ["Доставка опоздала на неделю, очень плохо", "Отличный сервис, всё пришло вовремя",
           "Посылка пришла разбитой, верните деньги"]
JAPANESE = ["配送が遅れて困りました", "商品はとても良かったです", "請求書の金額が間違っています", "返品の手続きを教えてください"]
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1:A2)", "-2+3", "=HYPERLINK(\"http://x\")"]


def texts_with_labels(texts: list[str], n: int = 30) -> list[tuple[str, str]]:
    return [(f"{texts[i % len(texts)]} {i}", LABELS[i % 3]) for i in range(n)]


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    """A bad file, and what each command must answer (exit status, words in the answer)."""

    name: str  # the file name: its extension matters
    build: Callable[[Path], None]
    words: str  # in the message (stderr) of a refusal, else in the inspect report
    todo: str = ""  # in a refusal: the words saying what to do
    inspect: int = REFUSED
    train: int = REFUSED
    predict: int = REFUSED
    evaluate: int = REFUSED
    rows: int | None = None  # rows predicted, when predict works
    extra: dict = field(default_factory=dict)


def unreadable(name, build, words, todo, **kw) -> Case:
    """Not a table at all: every command refuses it."""
    return Case(name, build, words, todo, **kw)


def not_classes(name, build, words, todo, **kw) -> Case:
    """A readable table whose labels cannot be trained on: inspect reports it, train refuses it."""
    return Case(name, build, words, todo, inspect=REPORTED, **{"predict": OK, **kw})


def readable(name, build, words="", **kw) -> Case:
    """Read right (perhaps with a warning in the report): every command works."""
    return Case(name, build, words, **{"inspect": OK, "train": OK, "predict": OK, "evaluate": OK, **kw})


UNIQUE = [(f"text number {i}", f"label-{i}") for i in range(200)]
FLOATS = [(f"text number {i}", f"{random.Random(i).random():.4f}") for i in range(200)]
THOUSANDS = [(f"text number {i}", f"class-{i // 2}") for i in range(2_002)]
HUGE = [("x" * 200_000, LABELS[0])] + rows()[1:]
RAGGED = csv_text(rows()) + "only a text and no label\n" + "another text\n"

CASES = [
    # --- not tables: compressed, archives, documents, binary, empty
    unreadable("random.csv", write(random_bytes(4096)), "binary data", "save"),
    unreadable("random_small.csv", write(random_bytes(300, 1, nul=False)), "binary data", "save"),
    unreadable("gzip.csv", write(gzip.compress(good_csv())), "gzip-compressed", "Decompress"),
    unreadable("zip.csv", write(zip_of({"data.csv": good_csv()})), "zip archive", "Unzip"),
    unreadable("bz2.csv", write(bz2.compress(good_csv())), "bzip2-compressed", "Decompress"),
    unreadable("xz.csv", write(lzma.compress(good_csv())), "xz-compressed", "Decompress"),
    unreadable("zstd.csv", write(b"\x28\xb5\x2f\xfd" + random_bytes(500)), "zstd-compressed", "Decompress"),
    unreadable("seven.csv", write(b"7z\xbc\xaf\x27\x1c" + random_bytes(500)), "7-Zip", "Decompress"),
    unreadable("document.csv", write(b"%PDF-1.4\n" + random_bytes(500)), "PDF document", "export the table"),
    unreadable("picture.csv", write(b"\x89PNG\r\n\x1a\n" + random_bytes(500)), "PNG image", "export the table"),
    unreadable("page.csv", write("<!DOCTYPE html><html><body>Please log in</body></html>"), "web page",
               "download the table again"),
    unreadable("empty.csv", write(b""), "is empty", "header row"),
    unreadable("blank_lines.csv", write("\n  \n\n"), "is empty", "header row"),
    unreadable("header_only.csv", write("text,label\n"), "no data rows", "Add rows"),
    unreadable("nul_bytes.csv", write(good_csv().replace(b"number 3", b"num\0ber 3")), "zero bytes",
               "save it again"),
    unreadable("folder.csv", folder, "is a folder", "Choose a data file"),
    unreadable("missing.csv", nothing, "was not found", "Check the file name"),
    unreadable("notes.docx", write(b"PK"), "not a supported file type", ".csv"),
    # --- encodings: mixed, unsure, damaged
    unreadable("stray_latin1.csv", write(csv_text(texts_with_labels(["un café noir"])).encode("utf-8")
                                         + "un café,positive\n".encode("latin-1")),
               "mixes text encodings", "UTF-8"),
    unreadable("mixed_halves.csv", write(csv_text(texts_with_labels(FRENCH, 10)).encode("utf-8")
                                         + csv_text(texts_with_labels(FRENCH, 10))[11:].encode("cp1252")),
               "mixes text encodings", "UTF-8"),
    unreadable("encoded_surrogate.csv", write(csv_text(texts_with_labels(FRENCH)).encode("utf-8")
                                              + b"bad \xed\xa0\x80 half,positive\n"),
               "mixes text encodings", "UTF-8"),
    unreadable("russian_two_lines.csv", write("text,label\nДоставка опоздала,negative\nОтличный сервис,positive\n"
                                              .encode("cp1251")),
               "cannot be told for sure", "UTF-8"),  # reads as Greek in Windows-1253 just as cleanly
    unreadable("french_two_words.csv", write(csv_text([("plain text", "positive")] * 20
                                                      + [("déjà vu", "negative")]).encode("cp1252")),
               "cannot be told for sure", "UTF-8"),
    unreadable("utf16_damaged.csv", write("text,label\nfine,positive\n".encode("utf-16") + b"\x00\xd8"),
               "damaged or mixes encodings", "UTF-8"),
    # --- Excel, Parquet, JSON that are not what they say
    unreadable("random.xlsx", write(random_bytes(2048, 2)), "binary data", "save"),
    unreadable("truncated.xlsx", lambda p: p.write_bytes(workbook(rows())[:1500]), "damaged zip archive",
               "save it again"),
    unreadable("gzip.xlsx", write(gzip.compress(good_csv())), "gzip-compressed", "Decompress"),
    unreadable("word.xlsx", write(zip_of({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<w/>"})),
               "Word document", "spreadsheet"),
    unreadable("random.parquet", write(random_bytes(2048, 3)), "binary data", "save"),
    unreadable("broken.jsonl", write('{"text": "a", "label": "positive"}\n{not json at all\n'),
               "Line 2 of 'broken.jsonl' is not valid JSON", "Fix or remove that line"),
    # --- delimited text that cannot be split into rows
    unreadable("unquoted_commas.csv", write(csv_text(rows()) + "a text, with a comma,positive\n"),
               "more values than the header", "double quotes"),
    unreadable("unclosed_quote.csv", write(csv_text(rows()[:10]) + '"never closed,positive\n'
                                           + csv_text(rows()[10:])[11:]),
               "never closed", "quote"),
    unreadable("runaway_quote.csv", write('text,label\n"' + "x" * 1_100_000 + "\n"), "never closed", "quote"),
    # A tester's one huge cell without a quote was sent to look for a quote, on the line after it.
    unreadable("huge_cell.csv", write("text,label\n" + "word " * 220_000 + ",positive\n" + csv_text(rows())[11:]),
               "Line 2 of 'huge_cell.csv' holds one value of more than 1,000,000 characters", "split it"),
    unreadable("one_column.csv", write(csv_text([(f"text number {i}",) for i in range(30)], header=("text",))),
               "'text' is the only column", "Predict tab", predict=OK, rows=30),
    # --- labels that are not classes
    not_classes("unique_labels.csv", write(csv_text(UNIQUE)), "no other row has", "--label", rows=200),
    not_classes("unique_floats.csv", write(csv_text(FLOATS)), "numbers with decimals", "classes", rows=200),
    not_classes("too_many_classes.csv", write(csv_text(THOUSANDS)), "more classes than", "merge", rows=2_002),
    not_classes("single_class.csv", write(csv_text([(t, "positive") for t, _ in rows()])), "same label",
                "other class", evaluate=OK, rows=30),
    not_classes("no_labels.csv", write(csv_text([(t, "") for t, _ in rows()])), "Every label cell in 'label' is empty",
                "Fill in each text's label", rows=30),
    # --- read right, with what was noticed in the report
    readable("cr_only.csv", write(csv_text(rows(), newline="\r")), "Read 30 rows", rows=30),
    readable("huge_field.csv", write(csv_text(HUGE)), "cut to the first 100,000 characters", rows=30),
    readable("ragged.csv", write(RAGGED), "2 rows of 'ragged.csv' have fewer values than the header", rows=32),
    readable("duplicate_headers.csv", write(csv_text([(t, t, lab) for t, lab in rows()],
                                                     header=("text", "text", "label"))),
             "'text' is read as 'text', 'text_2'", rows=30),
    readable("ids.csv", write(csv_text([(str(1000 + i), lab) for i, (_, lab) in enumerate(rows())],
                                       header=("id", "label"))),
             "holds only numbers", predict=REFUSED),
    readable("codes_beside_text.csv", write(csv_text([(f"SKU-{i:05d}", t, lab) for i, (t, lab) in enumerate(rows())],
                                                     header=("text", "comment", "label"))),
             "Text column: comment", rows=30),
    readable("french_cp1252.csv", write(csv_text(texts_with_labels(FRENCH), sep=";").encode("cp1252")),
             "read as Windows-1252 (Western European)", rows=30),
    readable("russian_cp1251.csv", write(csv_text(texts_with_labels(RUSSIAN), sep=";").encode("cp1251")),
             "read as Windows-1251 (Cyrillic)", rows=30),
    readable("japanese_shift_jis.csv", write(csv_text(texts_with_labels(JAPANESE)).encode("shift_jis")),
             "read as Shift-JIS (Japanese)", rows=30),
    readable("utf16_bom.csv", write(csv_text(rows(), sep="\t").encode("utf-16")), "UTF-16", rows=30),
    readable("utf16le.csv", write(csv_text(rows()).encode("utf-16-le")), "UTF-16 (no byte-order mark)", rows=30),
    readable("utf16be.csv", write(csv_text(rows()).encode("utf-16-be")), "big-endian", rows=30),
    readable("utf8_bom_semicolons.csv", write(csv_text(texts_with_labels(FRENCH), sep=";").encode("utf-8-sig")),
             "UTF-8 with BOM", rows=30),
    readable("formulas.csv", write(csv_text(texts_with_labels(FORMULAS))), "Read 30 rows", rows=30),
    readable("workbook_named.csv", lambda p: p.write_bytes(workbook(rows())), "really an Excel workbook",
             rows=30),
    readable("text_named.xlsx", write(csv_text(rows())), "really plain text", rows=30),
    readable("parquet_named.csv", lambda p: p.write_bytes(parquet(rows())), "really a Parquet file", rows=30),
]


def test_the_corpus_is_large_its_names_unique_and_each_file_documented():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
    table = (Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
    assert [case.name for case in CASES if f"`{case.name}`" not in table] == []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad-files")
    paths = {}
    for case in CASES:
        paths[case.name] = root / case.name
        case.build(paths[case.name])
    return paths


@pytest.fixture(scope="module")
def run_copy(tmp_path_factory) -> Path:
    """The tiny run, copied: evaluate --data writes its eval and predictions files into the run folder."""
    return make_tiny_run(tmp_path_factory.mktemp("bad-input-run"))


def run_cli(capture, *argv: str) -> tuple[int, str, str]:
    """Run the command line; ``capture`` is capsys, or capfd where output goes to the process's own stderr."""
    code = main([str(a) for a in argv])
    out, err = capture.readouterr()
    return code, out, err


def check_answer(case: Case, code: int, expected: int, out: str, err: str, *, report_words: bool) -> None:
    assert code == expected, f"{case.name}: exit {code}, expected {expected}\n{err[-2000:]}"
    assert "Traceback" not in out + err
    if code == OK:
        if report_words and case.words:
            assert case.words in out + err, f"{case.name}: '{case.words}' not in the answer"
        return
    message = err.strip().splitlines()[-1]
    assert message.startswith("error: "), f"{case.name}: no plain message on stderr: {err[-500:]}"
    if report_words:
        assert case.words in message, f"{case.name}: '{case.words}' not in: {message}"
        assert case.todo in message, f"{case.name}: what to do ('{case.todo}') not in: {message}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_inspect(case, corpus, tiny_bert_dir, capsys):
    code, out, err = run_cli(capsys, "inspect", corpus[case.name], "--model", tiny_bert_dir)
    check_answer(case, code, case.inspect, out, err, report_words=True)


@pytest.mark.parametrize("case", [c for c in CASES if c.train != OK], ids=lambda c: c.name)
def test_train_refuses_before_writing_a_run_folder(case, corpus, tiny_bert_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "train", corpus[case.name], "--model", tiny_bert_dir, "--max-steps", "2",
                             "--runs-dir", runs, "--quiet")
    check_answer(case, code, case.train, out, err, report_words=True)
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_predict(case, corpus, tiny_run, tmp_path, capsys):
    target = tmp_path / "out" / "predictions.csv"  # a folder that does not exist yet: created
    code, out, err = run_cli(capsys, "predict", tiny_run, "--data", corpus[case.name], "--out", target)
    check_answer(case, code, case.predict, out, err, report_words=case.predict == case.inspect == REFUSED)
    if code == OK:
        assert json.loads(out.strip().splitlines()[-1])["rows"] == case.rows
    else:
        assert not target.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_evaluate_data(case, corpus, run_copy, capsys):
    code, out, err = run_cli(capsys, "evaluate", run_copy, "--data", corpus[case.name])
    check_answer(case, code, case.evaluate, out, err, report_words=case.evaluate == case.inspect == REFUSED)


# --------------------------------------------------------------------------- training on what is read


TRAINED = ["cr_only.csv", "huge_field.csv", "ids.csv", "french_cp1252.csv", "formulas.csv"]


@pytest.mark.parametrize("name", TRAINED)
def test_train_on_files_that_are_read(name, corpus, tiny_bert_dir, tmp_path, capsys):
    case = next(c for c in CASES if c.name == name)
    code, out, err = run_cli(capsys, "train", corpus[name], "--model", tiny_bert_dir, "--max-steps", "2",
                             "--runs-dir", tmp_path / "runs", "--quiet")
    check_answer(case, code, OK, out, err, report_words=False)
    run_dir = Path(json.loads(out.strip().splitlines()[-1])["run_dir"])
    assert (run_dir / "summary.json").is_file()
    # What reading noticed is in the run's data report (and printed with it when training starts).
    report = json.loads((run_dir / "data_report.json").read_text(encoding="utf-8"))
    assert case.words in report["table"] + " ".join(f["message"] for f in report["report"]["findings"])


def test_formula_cells_are_escaped_in_test_predictions(corpus, tiny_bert_dir, tmp_path, capsys):
    from bertstudio.evaluation.run import load_run_error_table

    code, out, _ = run_cli(capsys, "train", corpus["formulas.csv"], "--model", tiny_bert_dir, "--max-steps", "2",
                           "--runs-dir", tmp_path / "runs", "--quiet")
    assert code == OK
    run_dir = Path(json.loads(out.strip().splitlines()[-1])["run_dir"])
    with (run_dir / "test_predictions.csv").open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    assert texts and not any(t.startswith(("=", "+", "@", "-2")) for t in texts)
    assert any(t.startswith(("'=cmd", "'+1+1")) for t in texts)
    # The tool's own readers see the texts as written.
    table = load_run_error_table(run_dir)
    assert set(table["text"]) <= {f"{text} {i}" for i in range(30) for text in FORMULAS}


def test_predict_into_a_folder_or_onto_the_data_is_refused(corpus, tiny_run, tmp_path, capsys):
    data = tmp_path / "data.csv"
    shutil.copy(corpus["cr_only.csv"], data)
    code, _, err = run_cli(capsys, "predict", tiny_run, "--data", data, "--out", tmp_path)
    assert code == REFUSED and "names a folder" in err and "predictions.csv" in err
    code, _, err = run_cli(capsys, "predict", tiny_run, "--data", data, "--out", f"{tmp_path / 'new'}/")
    assert code == REFUSED and "names a folder" in err and not (tmp_path / "new").exists()
    code, _, err = run_cli(capsys, "predict", tiny_run, "--data", data, "--out", data)
    assert code == REFUSED and "overwrite" in err and data.read_bytes() == corpus["cr_only.csv"].read_bytes()
