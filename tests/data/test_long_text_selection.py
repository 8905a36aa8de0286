"""What is kept of long texts: exact token ids per strategy, windows that cover every token, aggregation per text,
and the settings that cannot work refused with what to do."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bertstudio.config import TrainConfig, check_long_text_settings, make_config
from bertstudio.data.long_texts import (
    LongTexts,
    encode_long_texts,
    labels_per_text,
    per_text,
    select_tokens,
    tokenize_long_split,
    uncovered_note,
    window_starts,
)
from bertstudio.errors import ConfigError
from bertstudio.predict.preprocessing import encode
from bertstudio.results import Preprocessing

LONG = " ".join(f"word{i} alpha beta" for i in range(40))  # ~200 word pieces


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def content(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_head_tail_and_head_tail_keep_exact_ids(tokenizer):
    ids = content(tokenizer, LONG)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert len(ids) > 100
    tail = encode_long_texts(tokenizer, [LONG], LongTexts("tail", 32))
    assert tail["input_ids"] == [[cls] + ids[-30:] + [sep]] and tail["text_row"] == [0]
    both = encode_long_texts(tokenizer, [LONG], LongTexts("head_tail", 32, head_tokens=10))
    assert both["input_ids"] == [[cls] + ids[:10] + ids[-20:] + [sep]]
    assert both["token_type_ids"] == [[0] * 32] and both["attention_mask"] == [[1] * 32]
    # The default head share is Sun et al.'s 128 of 510: exactly 128 + 382 at 512.
    assert LongTexts("head_tail", 512).head_count(510) == 128
    # head through this module is the tokenizer's own cut
    head = encode_long_texts(tokenizer, [LONG], LongTexts("head", 32))
    assert head["input_ids"] == [tokenizer(LONG, truncation=True, max_length=32)["input_ids"]]


@pytest.mark.parametrize("strategy", ["head", "tail", "head_tail", "windows"])
def test_a_text_that_fits_is_encoded_as_the_tokenizer_does(tokenizer, strategy):
    text = "a short review, all of it kept"
    encoded = encode_long_texts(tokenizer, [text], LongTexts(strategy, 32))
    assert encoded["input_ids"] == [tokenizer(text)["input_ids"]]


def test_windows_cover_every_token_with_the_stride_and_special_tokens(tokenizer):
    ids = content(tokenizer, LONG)
    settings = LongTexts("windows", 32, stride=20, max_windows=64)
    encoded = encode_long_texts(tokenizer, [LONG, "short one"], settings)
    windows = [w for w, row in zip(encoded["input_ids"], encoded["text_row"]) if row == 0]
    assert encoded["text_row"][-1] == 1 and encoded["text_row"].count(1) == 1
    for window in windows:
        assert window[0] == tokenizer.cls_token_id and window[-1] == tokenizer.sep_token_id and len(window) == 32
    starts = window_starts(len(ids), 30, 20, 64)
    assert starts[:3] == [0, 20, 40] and starts[-1] == len(ids) - 30  # the last window ends at the text's end
    assert [w[1:-1] for w in windows] == [ids[s:s + 30] for s in starts]
    covered = set()
    for s in starts:
        covered.update(range(s, s + 30))
    assert covered == set(range(len(ids)))
    assert windows[0][1 + 20:-1] == windows[1][1:1 + 10]  # consecutive windows overlap by 30 - 20 tokens


def test_more_windows_than_the_cap_are_spread_from_start_to_end():
    starts = window_starts(1000, 30, 15, 5)
    assert len(starts) == 5 and starts[0] == 0 and starts[-1] == 970
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spread
    assert window_starts(1000, 30, 15, 1) == [0]


@given(n=st.integers(1, 600), room=st.integers(1, 60), step_share=st.floats(0.05, 1.0))
def test_uncapped_windows_read_every_token_once_at_least(n, room, step_share):
    step = max(1, min(room, round(room * step_share)))
    starts = window_starts(n, room, step, max_windows=10_000)
    covered = np.zeros(n, dtype=bool)
    for s in starts:
        assert 0 <= s and s + min(room, n) <= n
        covered[s:s + room] = True
    assert covered.all() and starts == sorted(set(starts))
    assert all(b - a <= step for a, b in zip(starts, starts[1:]))


def test_select_tokens_per_strategy_on_plain_ids():
    ids = list(range(100))
    assert select_tokens(ids, LongTexts("head", 12), 10) == [ids[:10]]
    assert select_tokens(ids, LongTexts("tail", 12), 10) == [ids[-10:]]
    assert select_tokens(ids, LongTexts("head_tail", 12, head_tokens=3), 10) == [ids[:3] + ids[-7:]]
    assert select_tokens(ids, LongTexts("head_tail", 12, head_tokens=10), 10) == [ids[:10]]
    assert select_tokens(ids[:5], LongTexts("windows", 12), 10) == [ids[:5]]


def test_windows_logits_are_combined_per_text_by_mean_or_max():
    logits = np.array([[1.0, 0.0], [3.0, -2.0], [0.0, 5.0], [2.0, 2.0]], dtype=np.float32)
    rows = np.array([0, 0, 1, 2])
    np.testing.assert_allclose(per_text(logits, rows, "mean"), [[2.0, -1.0], [0.0, 5.0], [2.0, 2.0]])
    np.testing.assert_allclose(per_text(logits, rows, "max"), [[3.0, 0.0], [0.0, 5.0], [2.0, 2.0]])
    assert per_text(logits, None) is logits


def test_a_tokenized_split_has_one_row_per_window_with_its_texts_label(tokenizer):
    import datasets

    dataset = datasets.Dataset.from_dict({"text": ["tiny", LONG, "small too"], "label": [2, 1, 0]})
    pieces = tokenize_long_split(dataset, tokenizer, LongTexts("windows", 32, max_windows=4))
    assert pieces["text_row"] == [0, 1, 1, 1, 1, 2] and pieces["label"] == [2, 1, 1, 1, 1, 0]
    assert pieces["row"] == list(range(6)) and pieces["length"] == [len(i) for i in pieces["input_ids"]]
    assert labels_per_text(pieces).tolist() == [2, 1, 0]


def test_old_preprocessing_files_cut_at_the_head_exactly_as_before(tokenizer, tmp_path):
    """A preprocessing.json written before long-text choices reads as the head cut, through the same tokenizer
    call as before (so old runs predict bit for bit the same)."""
    path = tmp_path / "preprocessing.json"
    path.write_text(json.dumps({"label_names": ["a", "b"], "max_length": 24, "truncation": "longest_first"}))
    prep = Preprocessing.read(path)
    assert prep.long_texts == "head" and LongTexts.of(prep).plain_cut
    encoded = encode(tokenizer, [LONG, "short"], None, prep)
    assert encoded["input_ids"] == tokenizer([LONG, "short"], truncation=True, max_length=24)["input_ids"]
    assert "text_row" not in encoded


def test_old_config_files_load_as_the_head_cut(tmp_path):
    path = tmp_path / "config.json"  # a run's, from before the long-text choice (every run records its decisions)
    path.write_text(json.dumps({"model": "bundled-minilm", "max_length": 64, "epochs": 1, "decisions": []}))
    assert TrainConfig.load(path).long_texts == "head"
    assert TrainConfig().long_texts == "auto"  # new runs choose
    path.write_text(json.dumps({"epochs": 1}))  # a few settings a person wrote: the rest as on the command line
    assert TrainConfig.load(path, strict=True).long_texts == "auto"


def test_stride_not_below_the_maximum_length_is_refused_with_what_to_do():
    with pytest.raises(ConfigError) as err:
        make_config(max_length=128, long_texts="windows", window_stride=128)
    assert "not below the maximum length (128)" in err.value.message
    assert "e.g. 63" in err.value.hint
    with pytest.raises(ConfigError, match="do not fit"):
        make_config(max_length=64, long_texts="head_tail", head_tokens=63)
    make_config(max_length=128, long_texts="windows", window_stride=64)  # fine


@pytest.mark.parametrize("strategy", ["tail", "head_tail", "windows"])
def test_pairs_keep_the_head_and_say_why(strategy):
    with pytest.raises(ConfigError) as err:
        check_long_text_settings(strategy, 128, None, None, is_pair=True)
    assert "text pairs" in err.value.message and "'head'" in err.value.hint
    check_long_text_settings("head", 128, None, None, is_pair=True)


def test_every_choice_describes_itself():
    assert LongTexts("head", 256).describe() == "texts cut at 256 tokens"
    assert LongTexts("tail", 256).describe() == "long texts keep their last 254 tokens"
    assert LongTexts("head_tail", 256).describe() == "long texts keep their first 64 and last 190 tokens"
    # What each strategy keeps of a long text, in the words every message uses (never "the beginning" for all).
    assert [LongTexts(s, 256).kept() for s in ("head", "tail", "head_tail")] == [
        "the first 254 tokens", "the last 254 tokens", "the first 64 and last 190 tokens"]
    assert LongTexts("windows", 256, stride=100, max_windows=4).kept() == (
        "up to 4 overlapping windows of 256 tokens, 100 tokens apart: texts of up to 1,018 tokens whole, longer "
        "ones only in part (4 windows spread from start to end, 1,016 of their tokens)")
    assert "windows of 256 tokens, 127 tokens apart, their scores mean-aggregated" in LongTexts("windows", 256).describe()


@pytest.mark.parametrize("max_length, stride, max_windows", [(64, None, 8), (64, 10, 8), (256, 100, 4), (32, 30, 1)])
def test_windows_say_how_long_a_text_they_read_whole(max_length, stride, max_windows):
    """Tester: "windows: all of it ... misses nothing", while 8 windows of 64 tokens read about 5% of a text of
    10,000 tokens. What they read whole is what window_starts reads whole, whatever the stride."""
    kept = LongTexts("windows", max_length, stride=stride, max_windows=max_windows)
    room = kept.room()

    def read_whole(tokens: int) -> bool:
        read = set()
        for start in window_starts(tokens, room, kept.step(room), max_windows):
            read.update(range(start, min(tokens, start + room)))
        return len(read) == tokens

    covered = kept.covered_length() - 2  # the text's own tokens, without [CLS] and [SEP]
    assert read_whole(covered) and not read_whole(covered + 1)
    assert kept.most_read() == max_windows * room and "every token" not in kept.kept() + kept.describe()
    assert LongTexts("windows", 64).most_read() / 10_000 < 0.05  # the tester's 10k-token text: about 5% is read


def test_texts_longer_than_the_windows_read_are_counted_with_what_to_change():
    windows = LongTexts("windows", 64)
    note = uncovered_note(windows, 0.5, 112, 9_818)
    assert note.startswith("56 texts of 112 (50%) are longer than the 498 tokens 8 windows of 64 tokens read whole")
    assert "496 of its tokens" in note and "--max-windows 64" in note and "--max-length 512" in note
    assert uncovered_note(windows, 0.0, 112, 400) == "" and uncovered_note(windows, 0.1, 112, 498) == ""
    biggest = uncovered_note(LongTexts("windows", 512, max_windows=64), 0.5, 112, 99_000)
    assert "Split such documents into several rows" in biggest and "--max-windows" not in biggest
