"""Which column holds the texts and which the labels: categories are not texts, whatever the column's name, and
predict and evaluate choose a trained model's text column with one function."""

from __future__ import annotations

import datasets
import pytest

from bertstudio.data.columns import (
    guess_columns,
    model_text_column,
    profile_column,
    text_column_findings,
    text_column_for_model,
)
from bertstudio.errors import DataError

N = 60
SENTENCES = [f"the parcel number {i} came late and the box was broken" for i in range(N)]
CHANNELS = ["web form", "email", "phone call"] * (N // 3)
LABELS = ["billing", "delivery", "praise"] * (N // 3)


def _profiles(**columns: list[str]):
    return {name: profile_column(name, values) for name, values in columns.items()}


def test_a_column_named_text_of_a_few_short_values_is_not_the_text() -> None:
    """A tester's file: 'text' holds the channel (3 values), 'message' the sentences; the guess took 'text'."""
    guess = guess_columns(datasets.Dataset.from_dict({"text": CHANNELS, "message": SENTENCES, "label": LABELS}))
    assert (guess.text, guess.label) == ("message", "label")
    note = guess.text_note
    assert note.level == "info" and "'text' holds only 3 different short values" in note.message
    assert "read from 'message'" in note.message and "--text text" in note.hint
    assert guess.notes(text_chosen=True, label_chosen=False) == []  # a column the person chose is not noted


def test_a_few_short_values_stay_the_text_when_no_other_column_holds_texts() -> None:
    guess = guess_columns(datasets.Dataset.from_dict({"Feedback": ["ok", "bad"] * 10, "label": ["a", "b"] * 10}))
    assert guess.text == "Feedback" and guess.text_note is None


def test_categories_in_the_text_column_are_warned_about_naming_the_column_with_texts() -> None:
    ds = datasets.Dataset.from_dict({"text": CHANNELS, "message": SENTENCES, "label": LABELS})
    (finding,) = text_column_findings(ds, "text")
    assert finding.code == "text_looks_like_categories" and finding.level == "warning"
    assert "only 3 different short values" in finding.message and "--text message" in finding.hint
    assert finding.examples == ["web form", "email", "phone call"]
    assert text_column_findings(ds, "message") == []


def test_a_second_label_column_is_named_with_how_to_choose_it() -> None:
    ds = datasets.Dataset.from_dict({"text": SENTENCES, "sentiment": ["pos", "neg"] * (N // 2), "topic": LABELS})
    guess = guess_columns(ds)
    assert guess.label == "sentiment"
    (note,) = guess.notes(text_chosen=False, label_chosen=False)
    assert "'topic' could hold labels too" in note.message
    assert "--label topic" in note.hint and "Data tab" in note.hint
    assert guess.notes(text_chosen=False, label_chosen=True) == []
    assert guess_columns(datasets.Dataset.from_dict({"text": SENTENCES, "label": LABELS})).label_note is None


# --------------------------------------------------------------------------- a trained model's text column


@pytest.mark.parametrize("columns, expected", [
    ({"comment": SENTENCES, "label": LABELS}, "comment"),
    ({"subject": ["Order question"] * N, "body": SENTENCES, "label": LABELS}, "body"),
    ({"text": CHANNELS, "message": SENTENCES, "label": LABELS}, "message"),
    ({"ref": [f"R{i}" for i in range(N)], "remarks": SENTENCES}, "remarks"),
])
def test_the_model_reads_the_column_holding_texts_and_says_which(columns, expected) -> None:
    text, note = text_column_for_model(_profiles(**columns), trained="text")
    assert text == expected
    assert note.code == "text_column_chosen" and f"Read the texts from '{expected}'" in note.message
    assert "'text'" in note.message and "--text" in note.hint


def test_the_training_s_column_is_read_without_a_note_when_it_holds_texts() -> None:
    profiles = _profiles(text=SENTENCES, comment=[s.upper() for s in SENTENCES], label=LABELS)
    assert text_column_for_model(profiles, trained="text") == ("text", None)
    assert text_column_for_model(profiles, trained="comment") == ("comment", None)


def test_without_a_column_of_texts_the_model_s_column_is_not_guessed() -> None:
    """Ids beside labels: predict cannot tell the texts (None); evaluate leaves out the labels and reads the one
    column left, with the ids warning."""
    profiles = _profiles(id=[str(1000 + i) for i in range(N)], label=LABELS)
    assert text_column_for_model(profiles, trained="text") is None
    with pytest.raises(DataError, match="Could not tell which column holds the texts") as caught:
        model_text_column(profiles, given=None, trained="text")
    assert "--text" in caught.value.hint and "id, label" in caught.value.hint
    text, notes = model_text_column(profiles, given=None, trained="text", exclude={"label"})
    assert text == "id" and [n.code for n in notes] == ["text_column_chosen", "text_looks_like_ids"]


def test_a_column_named_by_the_person_is_read_and_warned_about() -> None:
    profiles = _profiles(text=CHANNELS, message=SENTENCES, label=LABELS)
    text, notes = model_text_column(profiles, given="text", trained="text")
    assert text == "text" and [n.code for n in notes] == ["text_looks_like_categories"]
    with pytest.raises(DataError, match="no column named 'nope'"):
        model_text_column(profiles, given="nope", trained="text")
