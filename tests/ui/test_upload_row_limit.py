"""A security tester's upload of a million-row workbook: the Data tab read it whole (73 s, every other visitor's
upload waiting) before the row limit refused it. An upload past the row limit is now refused while it is saved,
read only up to the row past the limit, and never read by the tab."""

from __future__ import annotations

import pytest
from helpers import tab_page, write_rows

from bertstudio.limits import NO_LIMITS, LimitExceeded, UsageLimits
from bertstudio.ui import data_tab, session

LIMIT = 50


def _table(path, rows: int):
    return write_rows(path, ["text", "label"], [[f"message number {i} about {'ab'[i % 2]}", "ab"[i % 2]]
                                                for i in range(rows)])


def _never(*_args, **_kwargs):
    raise AssertionError("the file was read whole")


def test_an_upload_past_the_row_limit_is_refused_before_the_tab_reads_it(tmp_path, monkeypatch):
    ctx, handlers, components, workspace = tab_page(tmp_path / "data", data_tab.build,
                                                    limits=UsageLimits(max_rows=LIMIT))
    monkeypatch.setattr(data_tab, "inspect_file", _never)
    monkeypatch.setattr(data_tab, "read_table", _never)
    shown = handlers["on_upload"](str(_table(tmp_path / "big.csv", LIMIT + 30)), workspace, "bundled-minilm", None,
                                  None)
    assert shown[components["data-status"]].startswith(
        "**big.csv was not loaded.** Your data has more than 50 rows; this demo trains on at most 50 (row limit).")
    assert shown[ctx.data] is None and list(workspace.uploads.iterdir()) == []  # not even copied


def test_a_file_within_the_row_limit_is_saved_as_before(tmp_path):
    workspace = session.SessionStore(tmp_path / "data").open(None)
    saved = session.save_upload(workspace, _table(tmp_path / "small.csv", LIMIT),
                                limits=UsageLimits(max_rows=LIMIT))
    assert saved.read_bytes() == (tmp_path / "small.csv").read_bytes()


@pytest.mark.parametrize("limits", [NO_LIMITS, UsageLimits(max_upload_mb=1)])
def test_without_a_row_limit_nothing_is_counted(tmp_path, monkeypatch, limits):
    """A person's own app (no limits) saves an upload exactly as it did: no pass over the file."""
    monkeypatch.setattr(session, "rows_past_limit", _never)
    workspace = session.SessionStore(tmp_path / "data").open(None)
    assert session.save_upload(workspace, _table(tmp_path / "big.csv", 500), limits=limits).is_file()


def test_the_row_limit_says_more_than_where_counting_stopped():
    limits = UsageLimits(max_rows=10)
    with pytest.raises(LimitExceeded, match=r"Your data has more than 10 rows; this demo trains on at most 10 "
                                            r"\(row limit\)\.") as refused:
        limits.check_rows(11, exact=False)
    assert "Keep a sample of at most 10 rows" in refused.value.hint
    with pytest.raises(LimitExceeded, match="Your data has 25 rows"):
        limits.check_rows(25)


def test_a_file_to_label_past_the_row_limit_is_refused_as_labelling_not_training(tmp_path):
    """The Predict and Evaluate uploads are labelled or scored, not trained on: their refusal says so."""
    workspace = session.SessionStore(tmp_path / "data").open(None)
    with pytest.raises(LimitExceeded, match=r"more than 50 rows; this demo labels at most 50 rows per file"):
        session.save_upload(workspace, _table(tmp_path / "big.csv", LIMIT + 30), limits=UsageLimits(max_rows=LIMIT),
                            to_label=True)
