"""HTML markup in the texts: counted over every text, said with what it means, the texts left as they are."""

from __future__ import annotations

import pytest
from helpers import write_rows

from bertstudio.data.inspect import read_and_prepare
from bertstudio.data.markup import commonest_markup, markup_finding

PLAIN = [f"Plain message number {i} about the order & the refund <3" for i in range(100)]


def dataset(texts: list[str], pairs: list[str] | None = None):
    import datasets

    columns = {"text": texts, **({"text_pair": pairs} if pairs is not None else {}), "label": [0] * len(texts)}
    return datasets.Dataset.from_dict(columns)


def test_texts_full_of_markup_get_a_warning_naming_the_commonest_pieces():
    html = [f"<p>The item was <b>great</b> &amp; arrived fast.<br/>Order {i}</p>" for i in range(40)]
    found = markup_finding(dataset(html + PLAIN[:60]))
    assert found.level == "warning" and found.code == "html_markup" and found.count == 40
    assert found.message.startswith("40 texts of 100 (40%) hold HTML markup, such as <p>, <b>, &amp;, <br/>.")
    assert "remove it before training" in found.hint and "keep it if it carries meaning" in found.hint


def test_a_few_percent_of_texts_with_entities_is_a_note():
    found = markup_finding(dataset(["Fish &amp; chips were cold", "It&#39;s broken", "Tom &amp; Jerry mug"]
                                   + PLAIN))
    assert found.level == "info" and found.count == 3


@pytest.mark.parametrize("texts", [
    ["One stray <br> in one text"] + PLAIN,  # under 2%
    ["Press <Enter> to go on", "Dear <name>, thanks", "a < b and c > d", "I <3 it", "AT&T; Q&A", "x<y>z"] * 20,
], ids=["one-stray-tag", "angle-brackets-that-are-no-html"])
def test_no_finding_for_a_stray_tag_or_for_angle_brackets_that_are_no_html(texts):
    assert markup_finding(dataset(texts)) is None


def test_the_second_text_of_a_pair_counts_too():
    found = markup_finding(dataset(PLAIN[:10], pairs=["<i>answer</i>"] * 5 + ["answer"] * 5))
    assert found.count == 5


def test_the_commonest_pieces_count_closing_tags_with_their_opening_ones():
    assert commonest_markup(["<B>x</B> <b>y</b> &nbsp;", "<div class='a'>z</div>"]) == ["<b>", "&nbsp;",
                                                                                         "<div class='a'>"]


def test_reading_a_file_adds_the_finding_and_keeps_the_texts(tmp_path):
    rows = [[f"<p>Order {i} was <b>late</b></p>", "ab"[i % 2]] for i in range(20)]
    _, _, prepared = read_and_prepare(str(write_rows(tmp_path / "html.csv", ["text", "label"], rows)))
    assert [f.code for f in prepared.report.findings].count("html_markup") == 1
    assert prepared.dataset["text"][0] == "<p>Order 0 was <b>late</b></p>"
