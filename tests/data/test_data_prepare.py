"""Column guessing, label clean-up and every validation finding of `prepare`."""

from __future__ import annotations

import json

import datasets
import pandas as pd
import pytest
from helpers import write_workbook

from bertstudio.data import SAMPLE_DATA_PATH, prepare
from bertstudio.data.columns import guess_columns
from bertstudio.data.io import read_table
from bertstudio.data.labels import normalise_label, sort_labels
from bertstudio.data.prepare import IMBALANCE_RATIO
from bertstudio.errors import DataError
from bertstudio.train.auto import DataStats, choose_class_weighting


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


def _table(**columns: list) -> datasets.Dataset:
    return datasets.Dataset.from_dict(columns)


def _balanced(n_per_class: int = 10, labels=("a", "b")) -> dict[str, list]:
    texts, names = [], []
    for label in labels:
        for i in range(n_per_class):
            texts.append(f"{label} example number {i}")
            names.append(label)
    return {"text": texts, "label": names}


def _codes(prepared) -> dict[str, object]:
    return {f.code: f for f in prepared.report.findings}


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("value", [1, 1.0, "1", " 1 ", "1.0", "1.00", "+1"])
def test_numbers_and_strings_are_the_same_label(value) -> None:
    assert normalise_label(value) == "1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("01", "01"), ("2.50", "2.5"), (-3.0, "-3"), (" Positive ", "Positive"), (True, "True"), ("nan", None),
     ('["pos"]', "pos"), ("['pos']", "pos"), ("[1.0]", "1"), ("[]", None), ("['a', 'b']", "['a', 'b']"),
     ("[see notes]", "[see notes]")],
)
def test_label_spellings(value, expected) -> None:
    assert normalise_label(value) == expected


@pytest.mark.parametrize("value", [None, "", "   ", float("nan")])
def test_empty_labels_are_missing(value) -> None:
    assert normalise_label(value) is None


def test_casefold() -> None:
    assert normalise_label(" POSitive", casefold=True) == "positive"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["10", "2", "1", "-1"], ["-1", "1", "2", "10"]),
        (["b", "A", "c"], ["A", "b", "c"]),
        (["class10", "class2", "class1"], ["class1", "class2", "class10"]),
        (["neg", "1"], ["1", "neg"]),
    ],
)
def test_sort_labels(labels, expected) -> None:
    assert sort_labels(labels) == expected


def test_prepare_merges_label_spellings() -> None:
    ds = _table(text=[f"t{i}" for i in range(12)], label=["1", "1.0", " 1 ", "2", "2.0", "2"] * 2)
    prepared = prepare(ds, text_col="text", label_col="label")
    assert prepared.label_names == ["1", "2"] and prepared.label2id == {"1": 0, "2": 1}
    assert prepared.dataset["label"] == [0, 0, 0, 1, 1, 1] * 2
    assert prepared.report.class_counts == {"1": 6, "2": 6}


def test_a_label_spelt_like_its_column_says_the_header_repeats() -> None:
    # Two files joined together: the second one's header row ("text", "label") is now a row of data.
    ds = _table(text=[f"t{i}" for i in range(12)] + ["text"], label=["pos", "neg"] * 6 + ["label"])
    finding = _codes(prepare(ds, text_col="text", label_col="label"))["header_as_label"]
    assert finding.level == "warning" and finding.count == 1 and "header row repeats" in finding.message
    clean = _table(text=[f"t{i}" for i in range(12)], label=["pos", "neg"] * 6)
    assert "header_as_label" not in _codes(prepare(clean, text_col="text", label_col="label"))


def test_prepare_accepts_numeric_columns() -> None:
    ds = _table(text=[f"t{i}" for i in range(10)], label=[0, 1] * 5)
    prepared = prepare(ds, text_col="text", label_col="label")
    assert prepared.label_names == ["0", "1"]


def test_casefold_option_merges_cases() -> None:
    ds = _table(text=[f"t{i}" for i in range(12)], label=["Pos", "pos", "NEG"] * 4)
    assert prepare(ds, text_col="text", label_col="label").label_names == ["NEG", "Pos", "pos"]
    assert _codes(prepare(ds, text_col="text", label_col="label"))["case_variants"].examples == ["Pos / pos"]
    folded = prepare(ds, text_col="text", label_col="label", casefold_labels=True)
    assert folded.label_names == ["neg", "pos"] and folded.report.class_counts == {"neg": 4, "pos": 8}
    assert "case_variants" not in _codes(folded)


# --------------------------------------------------------------------------- output shape


def test_output_columns_and_features() -> None:
    prepared = prepare(_table(**_balanced()), text_col="text", label_col="label")
    ds = prepared.dataset
    assert ds.column_names == ["text", "label"]
    assert isinstance(ds.features["label"], datasets.ClassLabel)
    assert ds.features["label"].names == ["a", "b"]
    assert prepared.id2label == {0: "a", 1: "b"} and not prepared.has_pair
    assert prepared.report.findings == [] and not prepared.report.has_errors


def test_pair_columns() -> None:
    data = _balanced()
    data["q2"] = [t.upper() for t in data["text"]]
    ds = _table(q1=data["text"], q2=data["q2"], y=data["label"])
    prepared = prepare(ds, text_col="q1", text_pair_col="q2", label_col="y")
    assert prepared.dataset.column_names == ["text", "text_pair", "label"]
    assert prepared.dataset[0]["text_pair"] == prepared.dataset[0]["text"].upper()


def test_texts_are_stripped() -> None:
    data = _balanced()
    data["text"][0] = "  padded  "
    assert prepare(_table(**data), text_col="text", label_col="label").dataset[0]["text"] == "padded"


def test_missing_column_names_available_ones() -> None:
    with pytest.raises(DataError, match="'labl'") as caught:
        prepare(_table(**_balanced()), text_col="text", label_col="labl")
    assert "text, label" in caught.value.hint


def test_same_column_for_two_roles() -> None:
    with pytest.raises(DataError):
        prepare(_table(**_balanced()), text_col="text", label_col="text")


# --------------------------------------------------------------------------- findings


def test_dropped_rows_are_counted() -> None:
    data = _balanced()
    data["text"] += ["", None, "   ", "no label here", "also none", None]
    data["label"] += ["a", "b", None, None, "  ", None]
    prepared = prepare(_table(**data), text_col="text", label_col="label")
    found = _codes(prepared)
    assert found["empty_text"].count == 2 and found["empty_text"].level == "warning"
    assert found["missing_label"].count == 2 and found["missing_label"].examples == ["no label here", "also none"]
    assert found["blank_rows"].count == 2 and found["blank_rows"].level == "info"
    assert prepared.report.n_rows_in == 26 and prepared.report.n_rows_kept == 20
    assert prepared.dataset.num_rows == 20


def test_duplicates_and_conflicting_labels() -> None:
    data = _balanced()
    data["text"] += ["a example number 0", "a example number 0", "a example number 1"]
    data["label"] += ["a", "b", "a"]
    found = _codes(prepare(_table(**data), text_col="text", label_col="label"))
    assert found["duplicates"].count == 3 and found["duplicates"].level == "warning"
    conflict = found["conflicting_labels"]
    assert conflict.count == 1 and conflict.examples == ["'a example number 0' -> a, b"]


def test_repeats_of_pairs_are_counted_and_shown_as_pairs() -> None:
    """One question with several answers repeats the question, not the pair: only repeated pairs count."""
    ds = _table(q=["open today?"] * 4 + ["any refunds?"] * 2, a=["yes", "no", "yes", "at nine", "no", "no"],
                y=["r", "n", "r", "r", "n", "r"])
    found = _codes(prepare(ds, text_col="q", text_pair_col="a", label_col="y"))
    assert found["duplicates"].count == 2 and "repeating a pair of texts" in found["duplicates"].message
    assert found["duplicates"].examples == ["open today? / yes", "any refunds? / no"]
    assert found["conflicting_labels"].examples == ["'any refunds? / no' -> n, r"]


def test_few_duplicates_are_only_info() -> None:
    data = _balanced(n_per_class=100)
    data["text"].append(data["text"][0])
    data["label"].append("a")
    found = _codes(prepare(_table(**data), text_col="text", label_col="label"))
    assert found["duplicates"].level == "info" and "conflicting_labels" not in found


def test_small_classes_are_named() -> None:
    data = _balanced(n_per_class=10, labels=("a", "b"))
    data["text"] += ["rare one", "rare two", "lonely"]
    data["label"] += ["rare", "rare", "solo"]
    finding = _codes(prepare(_table(**data), text_col="text", label_col="label", min_class_count=5))["small_classes"]
    assert finding.count == 2 and "'rare' (2)" in finding.message and "'solo' (1)" in finding.message
    assert "merge" in finding.hint


def test_single_class_is_an_error() -> None:
    data = _balanced(labels=("only",))
    prepared = prepare(_table(**data), text_col="text", label_col="label")
    assert prepared.report.has_errors
    assert _codes(prepared)["single_class"].level == "error"
    with pytest.raises(DataError, match="at least two classes"):
        prepared.raise_if_errors()


@pytest.mark.parametrize(("labels", "code", "words"), [
    ([f"id-{i}" for i in range(40)], "too_many_classes", "40 of the 40 rows have a label that no other row has"),
    ([f"id-{i // 2}" for i in range(20)] + [f"x-{i}" for i in range(21)], "too_many_classes", "21 of the 41 rows"),
    ([f"c{i // 2}" for i in range(2_002)], "too_many_classes", "1,001 different labels"),
    ([f"{0.5 + i / 100:.2f}" for i in range(30)] * 2, "numeric_labels", "30 different numbers with decimals"),
])
def test_labels_that_are_not_classes_are_one_error(labels, code, words) -> None:
    """Ids, free text or measurements as labels: refused before training (with no flood of small-class lists)."""
    prepared = prepare(_table(text=[f"text {i}" for i in range(len(labels))], label=labels),
                       text_col="text", label_col="label")
    assert [(f.code, f.level) for f in prepared.report.errors] == [(code, "error")]
    assert "small_classes" not in _codes(prepared)
    with pytest.raises(DataError, match=words) as caught:
        prepared.raise_if_errors()
    assert "--label" in caught.value.hint


@pytest.mark.parametrize("labels", [
    ["1", "2", "3"] * 10,  # whole numbers are class ids
    ["1.5", "2.5"] * 15,  # a few decimal values are classes too (a rating scale)
    [f"c{i}" for i in range(14)] + ["a", "b"] * 8,  # under half the rows in one-row classes
])
def test_real_classes_pass_the_label_check(labels) -> None:
    prepared = prepare(_table(text=[f"text {i}" for i in range(len(labels))], label=labels),
                       text_col="text", label_col="label")
    assert not prepared.report.has_errors


def test_no_usable_rows_is_an_error() -> None:
    prepared = prepare(_table(text=[None, " "], label=["a", "b"]), text_col="text", label_col="label")
    assert "no_rows" in _codes(prepared) and prepared.report.has_errors
    assert prepared.dataset.num_rows == 0 and prepared.label_names == []


def test_a_label_column_empty_in_every_row_says_so() -> None:
    prepared = prepare(_table(text=["a", "b"], label=[None, ""]), text_col="text", label_col="label")
    assert "no_labels" in _codes(prepared) and "no_rows" not in _codes(prepared) and prepared.report.has_errors
    [finding] = [f for f in prepared.report.findings if f.code == "no_labels"]
    assert "Every label cell in 'label' is empty (2 rows)" in finding.message and "Fill in" in finding.hint


def test_class_emptied_by_dropped_rows_disappears() -> None:
    data = _balanced()
    data["text"].append("")
    data["label"].append("ghost")
    prepared = prepare(_table(**data), text_col="text", label_col="label")
    assert prepared.label_names == ["a", "b"] and set(prepared.dataset["label"]) == {0, 1}


def test_long_texts() -> None:
    data = _balanced()
    data["text"][0] = "word " * 300
    finding = _codes(prepare(_table(**data), text_col="text", label_col="label", long_text_chars=1_000))["long_texts"]
    assert finding.count == 1 and finding.level == "info"
    # Four long-text strategies keep different parts: the hint names them all, never "only the beginning".
    assert "the start, the end, both, or overlapping windows across each" in finding.hint
    assert "beginning" not in finding.hint


def test_imbalance() -> None:
    data = _balanced(n_per_class=5, labels=("small",))
    big = _balanced(n_per_class=30, labels=("big",))
    ds = _table(text=data["text"] + big["text"], label=data["label"] + big["label"])
    found = _codes(prepare(ds, text_col="text", label_col="label"))
    assert found["imbalance"].level == "warning"
    # Not "turn on class weights": the automatic setting (and the 'imbalanced' preset) already weights rare classes
    # up at this ratio, and a tester with the preset on was told to turn them on.
    assert found["imbalance"].hint.startswith("Training weights the rare classes up")
    at_the_warning = DataStats(train_rows=600, class_counts={"big": 500, "small": int(500 / IMBALANCE_RATIO)},
                               suggested_max_length=64, length_p95=30)
    assert choose_class_weighting(at_the_warning).value == "balanced"  # what the hint says is true
    assert "small_classes" not in found  # 5 is enough by default


def test_combined_labels() -> None:
    data = _balanced(labels=("joy", "love", "joy;love"))
    finding = _codes(prepare(_table(**data), text_col="text", label_col="label"))["combined_labels"]
    assert finding.count == 1 and finding.examples == ["joy;love"] and "10 rows" in finding.message


def test_summary_names_only_the_biggest_classes() -> None:
    data = _balanced(n_per_class=5, labels=tuple(f"c{i}" for i in range(12)))
    data["text"] += ["extra one", "extra two"]
    data["label"] += ["c11", "c11"]
    summary = prepare(_table(**data), text_col="text", label_col="label").report.summary()
    assert summary.startswith("Kept 62 of 62 rows; 12 classes: c11 (7), c0 (5)")
    assert summary.endswith("and 2 more.")


def test_report_text_and_dict() -> None:
    data = _balanced(labels=("only",))
    data["text"].append("")
    data["label"].append("only")
    report = prepare(_table(**data), text_col="text", label_col="label").report
    text = report.to_text()
    lines = text.splitlines()
    assert lines[0] == "Kept 10 of 11 rows; 1 class: only (10)."
    assert lines[1].startswith("ERROR:") and "What to do:" in lines[1]
    assert len(lines) == 1 + len(report.findings)
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["has_errors"] is True and as_dict["n_rows_kept"] == 10
    assert {f["code"] for f in as_dict["findings"]} == {"single_class", "empty_text"}


def test_large_table_prepares_and_counts() -> None:
    n = 200_000
    texts = [f"short review number {i % 150_000}" for i in range(n)]  # 50,000 repeats
    labels = [str(i % 7) for i in range(n)]  # 150,000 % 7 != 0: every repeat has another label
    labels[:1_000] = [None] * 1_000
    prepared = prepare(_table(text=texts, label=labels), text_col="text", label_col="label")
    report = prepared.report
    assert report.n_rows_kept == n - 1_000 and prepared.dataset.num_rows == n - 1_000
    assert sum(report.class_counts.values()) == n - 1_000
    found = _codes(prepared)
    assert found["missing_label"].count == 1_000
    # The first 1,000 rows were dropped, so their later copies are no longer repeats.
    assert found["duplicates"].count == 49_000
    assert found["conflicting_labels"].count == 49_000
    assert len(report.class_counts) == 7


# --------------------------------------------------------------------------- column guessing


def test_guess_by_name() -> None:
    ds = _table(id=["1", "2"], Review=["nice", "bad"], Sentiment=["pos", "neg"])
    guess = guess_columns(ds)
    assert (guess.text, guess.label, guess.text_pair) == ("Review", "Sentiment", None)
    assert len(guess.reasons) == 2


def test_guess_by_partial_name() -> None:
    ds = _table(review_text=["nice", "bad"], label_name=["pos", "neg"])
    guess = guess_columns(ds)
    assert (guess.text, guess.label) == ("review_text", "label_name")


@pytest.mark.parametrize(
    ("a", "b"), [("sentence1", "sentence2"), ("question1", "question2"), ("premise", "hypothesis"), ("text_a", "text_b")]
)
def test_guess_pairs(a: str, b: str) -> None:
    ds = _table(**{a: ["x one", "y two"], b: ["z", "w"], "label": ["0", "1"]})
    guess = guess_columns(ds)
    assert (guess.text, guess.text_pair, guess.label) == (a, b, "label")


def test_a_rating_is_taken_by_name_when_it_repeats_as_labels_do() -> None:
    """A tester's reviews file (id;review text;stars;country): the 1-5 stars are what is predicted, not the
    3 country codes that repeat more; a 'score' of measurements is never taken for labels by its name."""
    n = 60
    reviews = _table(id=[str(i) for i in range(n)], **{"review text": [f"review number {i} of it" for i in range(n)]},
                     stars=[str(1 + i % 5) for i in range(n)], country=["DE", "FR", "UK"] * (n // 3))
    assert guess_columns(reviews).label == "stars"
    assert "'stars' looks like the label column (by its name)." in guess_columns(reviews).reasons
    measured = _table(text=[f"text {i}" for i in range(n)], score=[f"{i / 7:.3f}" for i in range(n)],
                      team=["a", "b"] * (n // 2))
    assert guess_columns(measured).label == "team"


def test_guess_by_content() -> None:
    n = 60
    ds = _table(
        ref=[f"R{i}" for i in range(n)],
        remarks=[f"this is a fairly long piece of feedback number {i}" for i in range(n)],
        kind=["x", "y", "z"] * (n // 3),
    )
    guess = guess_columns(ds)
    assert (guess.text, guess.label) == ("remarks", "kind")
    assert "longest" in guess.reasons[0] and "3 different values" in guess.reasons[1]


@pytest.mark.parametrize("ids", [
    [str(1000 + i) for i in range(30)],  # numbers
    [f"SKU-{i:05d}" for i in range(30)],  # short codes, each different
])
def test_a_real_text_column_wins_over_ids_even_one_named_text(ids) -> None:
    ds = _table(text=ids, comment=[f"the parcel came late, order {i}" for i in range(30)], label=["a", "b", "c"] * 10)
    guess = guess_columns(ds)
    assert (guess.text, guess.label) == ("comment", "label")


def test_texts_that_often_repeat_still_win_over_an_id_column() -> None:
    """Short feedback repeats ("Great service!"), so fewer than half its values differ; the customer number beside
    it differs in every row, but ids are never the text while another column is there."""
    n = 300
    ds = _table(remarks=[f"the parcel was late again {i % 140}" for i in range(n)],
                category=["billing", "delivery", "praise"] * (n // 3), customer_id=[str(1000 + i) for i in range(n)])
    guess = guess_columns(ds)
    assert (guess.text, guess.label) == ("remarks", "category")
    assert guess.reasons[0] == "'remarks' holds the texts: it has the most different values (140 in 300 rows)."


@pytest.mark.parametrize("name", ["Feedback", "description", "tweet", "utterance"])
def test_usual_names_of_text_columns(name) -> None:
    ds = _table(**{"id": [str(i) for i in range(20)], name: ["ok", "bad"] * 10, "label": ["a", "b"] * 10})
    assert guess_columns(ds).text == name


def test_question_and_answer_are_a_pair_unless_the_answers_are_the_labels() -> None:
    questions = [f"is the shop open on day {i}" for i in range(20)]
    answers = [f"yes, from nine until {i}" for i in range(20)]
    paired = guess_columns(_table(question=questions, answer=answers, relevant=["1", "0"] * 10))
    assert (paired.text, paired.text_pair, paired.label) == ("question", "answer", "relevant")
    labelled = guess_columns(_table(question=questions, answer=answers, label=["1", "0"] * 10))
    assert (labelled.text, labelled.text_pair, labelled.label) == ("question", "answer", "label")
    yes_no = guess_columns(_table(question=questions, answer=["yes", "no"] * 10))
    assert (yes_no.text, yes_no.text_pair, yes_no.label) == ("question", None, "answer")


def test_ids_as_the_text_column_are_warned_about_guessed_or_chosen(tmp_path) -> None:
    from bertstudio.data.inspect import read_and_prepare

    path = tmp_path / "ids.csv"
    path.write_text("id,label\n" + "".join(f"{1000 + i},{'ab'[i % 2]}\n" for i in range(20)), encoding="utf-8")
    for chosen in (None, "id"):
        _, columns, prepared = read_and_prepare(str(path), text_column=chosen)
        finding = _codes(prepared)["text_looks_like_ids"]
        assert columns.text == "id" and finding.level == "warning" and "only numbers" in finding.message
        assert "--text" in finding.hint and finding.examples[:2] == ["1000", "1001"]


def test_words_are_texts_not_codes() -> None:
    from bertstudio.data.columns import profile_column

    assert not profile_column("word", ["apple pie", "banana split", "cherry"]).looks_like_ids
    assert not profile_column("word", ["good", "bad", "good"]).looks_like_ids  # repeated: not unique codes
    assert profile_column("code", ["A1", "B2", "C3"]).looks_like_ids


def test_guess_without_label() -> None:
    guess = guess_columns(_table(stuff=[f"text {i}" for i in range(10)]))
    assert guess.text == "stuff" and guess.label is None
    assert guess.reasons[-1] == "The file has one column ('stuff'): texts without labels."


def test_why_no_column_looks_like_labels_is_said_column_by_column() -> None:
    guess = guess_columns(_table(text=[f"text {i}" for i in range(10)], score=[f"{i / 7:.2f}" for i in range(10)],
                                 note=[""] * 10, flag=["x"] * 10))
    assert guess.label is None
    assert guess.reasons[-1] == ("No column looks like labels: 'score' has 10 different numbers in 10 rows, too many "
                                 "for classes; 'note' is empty; 'flag' holds one value only.")


@pytest.mark.parametrize("header, rows, says, hint", [
    ("text", ["good film", "bad film"], "'text' is the only column", "Predict tab"),
    ("text,score", [f"film number {i},0.{i}1" for i in range(5)], "'score' has 9 different numbers in 10 rows",
     "--label"),
])
def test_a_file_without_a_label_column_is_refused_with_what_to_do(tmp_path, header, rows, says, hint) -> None:
    from bertstudio.data.inspect import LabelColumnNotFound, read_and_prepare

    path = tmp_path / "texts.csv"
    path.write_text(header + "\n" + "\n".join(rows + [r.replace("1", "3") for r in rows]) + "\n",
                    encoding="utf-8")
    with pytest.raises(LabelColumnNotFound) as caught:
        read_and_prepare(str(path))
    assert says in caught.value.message and hint in caught.value.hint
    assert caught.value.guess.text == "text"  # the app offers it in the text column's box


def test_guess_uses_a_sample() -> None:
    # Past the sample the "label" would have many values; only the sample is looked at.
    ds = _table(a=[f"long text number {i}" for i in range(50)], b=["x", "y"] * 10 + [str(i) for i in range(30)])
    assert guess_columns(ds, sample_rows=20).label == "b"


# --------------------------------------------------------------------------- sample dataset


def test_sample_dataset_is_clean() -> None:
    ds, info = read_table(SAMPLE_DATA_PATH)
    guess = guess_columns(ds)
    prepared = prepare(ds, text_col=guess.text, label_col=guess.label)
    assert info.n_rows >= 350
    assert prepared.label_names == ["billing", "delivery", "praise", "product_quality"]
    assert not prepared.report.has_errors
    assert "duplicates" not in _codes(prepared)
    assert min(prepared.report.class_counts.values()) >= 80


def test_too_few_rows_or_one_text_for_every_row_stop_training_but_still_score() -> None:
    """4 rows trained on 2 and reported 0% as a finished run; a file whose every text is the same trained with
    warnings only. Both are errors for training; a validation or test file that small still scores a model."""
    tiny = prepare(_table(text=["good", "bad", "fine", "awful"], label=["p", "n", "p", "n"]), text_col="text",
                   label_col="label")
    assert _codes(tiny)["too_few_rows"].level == "error"
    assert "Only 4 usable rows" in tiny.report.errors[0].message
    with pytest.raises(DataError, match="too few to train"):
        tiny.raise_if_errors()
    tiny.raise_if_errors(scoring=True)

    same = prepare(_table(text=["Same text."] * 20, label=["a", "b"] * 10), text_col="text", label_col="label")
    assert _codes(same)["one_text"].level == "error"
    assert "Every row holds the same text ('Same text.')" in same.report.errors[0].message
    pairs = prepare(_table(text=["Same text."] * 20, other=[f"answer {i}" for i in range(20)], label=["a", "b"] * 10),
                    text_col="text", text_pair_col="other", label_col="label")
    assert "one_text" not in _codes(pairs)  # the second texts differ: there is something to learn
    assert not prepare(_table(**_balanced()), text_col="text", label_col="label").report.has_errors


def test_labels_that_look_alike_are_one_class_and_missing_words_are_named() -> None:
    """Labels typed on a Mac and on Windows ("très" as one character or as "e" and an accent) or with an invisible
    character showed as the same word on screen and were separate classes; "N/A" and "null" trained as classes."""
    import unicodedata

    texts = [f"text number {i}" for i in range(24)]
    labels = [unicodedata.normalize("NFD" if i % 2 else "NFC", "très bien") if i % 3 else "negative\u200b"
              for i in range(24)]
    prepared = prepare(_table(text=texts, label=labels), text_col="text", label_col="label")
    assert prepared.label_names == ["negative", "très bien"]
    assert prepared.report.class_counts == {"negative": 8, "très bien": 16}

    labels = ["pos", "neg", "N/A", "null"] * 6
    prepared = prepare(_table(text=texts, label=labels), text_col="text", label_col="label")
    assert _codes(prepared)["missing_label_words"].level == "warning"
    (finding,) = [f for f in prepared.report.findings if f.code == "missing_label_words"]
    assert "'N/A' (6 rows), 'null' (6 rows)" in finding.message


def test_swapped_text_and_label_columns_are_named_as_such() -> None:
    """Headers written the wrong way round: the label column holds sentences, the text column three classes. The
    error said "check --label" and a warning listed all 300 sentences as one text's labels."""
    sentences = [f"Sentence number {i} about the order." for i in range(60)]
    prepared = prepare(_table(text=["negative", "neutral", "positive"] * 20, label=sentences), text_col="text",
                       label_col="label")
    error = _codes(prepared)["too_many_classes"]
    assert "The columns look swapped: 'text' holds only 3 different values" in error.hint
    assert "--text label --label text" in error.hint
    conflicting = _codes(prepared)["conflicting_labels"]
    assert all(example.endswith("and 17 more") for example in conflicting.examples)
    ids = prepare(_table(text=[f"text {i}" for i in range(60)], label=[f"id-{i}" for i in range(60)]),
                  text_col="text", label_col="label")
    assert "swapped" not in _codes(ids)["too_many_classes"].hint  # varied texts: the label column is the problem


# --------------------------------------------------------------------------- labels and rows as files hold them


@pytest.mark.parametrize("value", [True, "true", "True", "TRUE", " true "])
def test_booleans_are_spelt_one_way_whatever_the_format(value) -> None:
    assert normalise_label(value) == "True"
    assert normalise_label(value, casefold=True) == "true"


def test_a_boolean_label_column_reads_the_same_from_parquet_and_csv(tmp_path) -> None:
    """Parquet and JSON booleans came out 'false'/'true', CSV ones 'False'/'True': a model trained on one refused
    to be scored on the other ("labels the model was never trained on")."""
    frame = pd.DataFrame({"text": [f"text number {i}" for i in range(20)], "label": [i % 2 == 0 for i in range(20)]})
    frame.to_parquet(tmp_path / "bool.parquet")
    frame.to_csv(tmp_path / "bool.csv", index=False)
    frame.to_json(tmp_path / "bool.jsonl", orient="records", lines=True)
    for name in ("bool.parquet", "bool.csv", "bool.jsonl"):
        ds, _ = read_table(tmp_path / name)
        assert prepare(ds, text_col="text", label_col="label").label_names == ["False", "True"], name


def test_a_totals_row_at_the_end_is_left_out_with_a_note() -> None:
    data = _balanced(n_per_class=10, labels=("a", "b"))
    prepared = prepare(_table(text=data["text"] + ["Total"], label=data["label"] + ["20"]), text_col="text",
                       label_col="label")
    assert prepared.label_names == ["a", "b"] and "small_classes" not in _codes(prepared)
    note = _codes(prepared)["summary_rows"]
    assert note.level == "info"
    assert note.message == "Left out the last row 'Total, 20': it looks like a totals row, not an example."
    assert prepared.report.n_rows_in == 21 and prepared.report.n_rows_kept == 20


def test_several_summary_rows_of_any_case_and_a_decimal_comma_are_left_out() -> None:
    data = _balanced(n_per_class=10, labels=("1", "2"))
    prepared = prepare(_table(text=data["text"] + ["GRAND TOTAL:", "average"], label=data["label"] + ["30", "3,1"]),
                       text_col="text", label_col="label")
    assert prepared.label_names == ["1", "2"]
    assert "the last 2 rows ('GRAND TOTAL:, 30'; 'average, 3,1')" in _codes(prepared)["summary_rows"].message


@pytest.mark.parametrize("text, label", [
    ("Total", "a"),  # a label of a class: a real example
    ("Total cost was too high", "99"),  # a sentence, not a summary word
])
def test_last_rows_that_may_be_examples_are_kept(text, label) -> None:
    data = _balanced(n_per_class=10, labels=("a", "b"))
    prepared = prepare(_table(text=data["text"] + [text], label=data["label"] + [label]), text_col="text",
                       label_col="label")
    assert "summary_rows" not in _codes(prepared) and prepared.report.n_rows_kept == 21


def test_a_totals_row_above_the_last_rows_is_kept() -> None:
    """Only the end of the file is looked at: a row "Total" further up may be real data."""
    data = _balanced(n_per_class=10, labels=("a", "b"))
    texts = data["text"][:5] + ["Total"] + data["text"][5:]
    labels = data["label"][:5] + ["7"] + data["label"][5:]
    prepared = prepare(_table(text=texts, label=labels), text_col="text", label_col="label")
    assert "7" in prepared.label_names and "summary_rows" not in _codes(prepared)


def test_a_totals_row_of_a_workbook_is_left_out(tmp_path) -> None:
    rows = [("text", "stars")] + [(f"review number {i} of the shop", str(1 + i % 5)) for i in range(30)]
    book = write_workbook(tmp_path / "reviews.xlsx", {"Reviews": rows + [("Average", 3.1)]})
    ds, _ = read_table(book)
    prepared = prepare(ds, text_col="text", label_col="stars")
    assert prepared.label_names == ["1", "2", "3", "4", "5"]
    assert "'Average, 3.1'" in _codes(prepared)["summary_rows"].message


def test_the_few_examples_warning_names_ten_classes_and_counts_the_rest() -> None:
    texts = [f"text number {i}" for i in range(600)]
    prepared = prepare(_table(text=texts, label=[f"cls{i % 200}" for i in range(600)]), text_col="text",
                       label_col="label")
    finding = _codes(prepared)["small_classes"]
    assert finding.count == 200 and "'cls9' (3) and 190 more." in finding.message
    assert "cls10'" not in finding.message and len(finding.message) < 300


def test_the_one_text_error_names_the_column_that_holds_texts() -> None:
    """Two columns named 'text' (read as 'text' and 'text_2'), the first a filler: the error said only "--text"."""
    data = _balanced(n_per_class=10, labels=("a", "b"))
    prepared = prepare(_table(text=["ignore this"] * 20, label=data["label"], text_2=data["text"]),
                       text_col="text", label_col="label")
    assert "--text text_2" in _codes(prepared)["one_text"].hint
