"""A big training split tokenized as its batches are drawn gives the same batches, tokens and run as one tokenized up
front (issue 22: a million rows to the first step)."""

from __future__ import annotations

import random

import pytest
import torch

from bertstudio.config import TrainConfig, config_from_preset
from bertstudio.events import SimpleModelScored, Started, Step
from bertstudio.results import Summary
from bertstudio.runs import RunFolder
from bertstudio.train import lazy_tokens, pipeline, simple_model
from bertstudio.train.batch_order import GroupedBatches, length_grouped_batches
from bertstudio.train.batching import EpochBatchSampler
from bertstudio.train.feeds import token_feed, tokenize_split
from bertstudio.train.job import TrainingJob
from bertstudio.train.lazy_tokens import LazyTokens
from bertstudio.train.simple_model import SimpleModelFit

WORDS = "the a refund parcel late login password thanks great order card never came again please help".split()


def _split(n: int, *, pairs: bool = False, multi_label: bool = False, seed: int = 0):
    from datasets import Dataset

    rng = random.Random(seed)
    columns = {"text": [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) for _ in range(n)],
               "label": [[rng.randrange(2) for _ in range(3)] if multi_label else rng.randrange(3)
                         for _ in range(n)]}
    if pairs:
        columns["text_pair"] = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(n)]
    # a selection, as data/split.py makes the training split (an indices mapping over the prepared table)
    return Dataset.from_dict(columns).select(rng.sample(range(n), n))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_bert_dir))


def test_grouped_batches_are_length_grouped_batches_asking_one_group_at_a_time():
    rng = random.Random(3)
    lengths = [rng.randint(1, 60) for _ in range(1000)]
    asked: list[list[int]] = []

    def lengths_of(rows: list[int]) -> list[int]:
        asked.append(rows)
        return [lengths[i] for i in rows]

    plan = GroupedBatches(len(lengths), 8, seed=5, group_factor=10)
    batches = plan.batches(lengths_of)
    first = next(batches)
    assert len(asked) == 1 and len(asked[0]) == 80  # the first batch needed one group's lengths, not 1,000
    assert [first, *batches] == length_grouped_batches(lengths, 8, seed=5, group_factor=10)
    assert sorted(i for rows in asked for i in rows) == list(range(1000))  # each group asked once
    for drop_last in (True, False):
        assert (list(GroupedBatches(1003, 8, seed=1, drop_last=drop_last).batches(lambda r: [len(str(i)) for i in r]))
                == length_grouped_batches([len(str(i)) for i in range(1003)], 8, seed=1, drop_last=drop_last))


@pytest.mark.parametrize(("pairs", "multi_label"), [(False, False), (True, False), (False, True)])
def test_lazy_batches_hold_the_same_texts_in_the_same_order_with_the_same_tokens(tokenizer, pairs, multi_label):
    split = _split(700, pairs=pairs, multi_label=multi_label)
    upfront, lazy = tokenize_split(split, tokenizer, 24), LazyTokens(split, tokenizer, 24)
    assert set(upfront.column_names) == set(lazy.column_names)
    cfg = TrainConfig(batch_size=8, seed=4, max_length=24)
    feeds = [token_feed(ds, upfront, tokenizer, cfg, "cpu") for ds in (upfront, lazy)]
    for epoch in range(2):  # a new order each epoch, the same on both paths
        for feed in feeds:
            feed.set_epoch(epoch)
        pairs_of_batches = list(zip(*(list(feed.train) for feed in feeds), strict=True))
        assert len(pairs_of_batches) == -(-700 // 8)
        for a, b in pairs_of_batches:
            assert a.keys() == b.keys() and {"input_ids", "attention_mask", "labels", "row"} <= set(a)
            for key in a:
                assert torch.equal(a[key], b[key]), key
    assert lazy["label"] == upfront["label"][:]  # class weights read the labels as from a tokenized split


def test_lazy_tokens_learn_a_groups_lengths_before_its_batches(tokenizer):
    split = _split(3000)
    lazy = LazyTokens(split, tokenizer, 24)
    sampler = EpochBatchSampler(lazy, 8, seed=0, group_by_length=True)
    next(iter(sampler))
    assert (lazy.known >= 0).sum() == 8 * 50  # one group of 50 batches, not the 3,000 texts
    assert lazy.lengths_of([0, 1]) == [len(ids) for ids in tokenize_split(split.select([0, 1]), tokenizer,
                                                                            24)["input_ids"]]


def test_two_processes_draw_the_batches_of_the_split_tokenized_up_front(tokenizer):
    """Under accelerate each process draws the whole batch order (tokenizing the groups itself) and keeps its share
    of it: each process gets exactly the batches it got from the split tokenized up front."""
    from accelerate.data_loader import BatchSamplerShard

    split = _split(900)
    lengths = tokenize_split(split, tokenizer, 24)["length"][:]

    def shards(source) -> list[list[list[int]]]:
        return [list(BatchSamplerShard(EpochBatchSampler(source(), 8, seed=2, group_by_length=True),
                                       num_processes=2, process_index=rank)) for rank in (0, 1)]

    expected = shards(lambda: lengths)
    assert shards(lambda: LazyTokens(split, tokenizer, 24)) == expected
    assert expected[0] and expected[0] != expected[1]


def _run(csv, model_dir, out, **extra):
    cfg = config_from_preset(data=str(csv), model=str(model_dir), output_dir=str(out), max_length=32, batch_size=8,
                             max_steps=6, precision="fp32", **extra)
    job = TrainingJob(cfg).start()
    assert job.wait(180), job.history[-1:]
    return job, Summary.read(RunFolder(out).summary)


def test_a_run_through_the_lazy_split_trains_exactly_as_one_tokenized_up_front(small_csv, tiny_bert_dir, tmp_path,
                                                                               monkeypatch):
    _, upfront = _run(small_csv, tiny_bert_dir, tmp_path / "upfront", simple_model=False)
    made: list[LazyTokens] = []

    class Recorded(LazyTokens):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(lazy_tokens, "LAZY_FROM_ROWS", 1)
    monkeypatch.setattr(pipeline, "LazyTokens", Recorded)
    _, lazy = _run(small_csv, tiny_bert_dir, tmp_path / "lazy", simple_model=False)
    assert made  # the run went through the lazy split
    assert lazy.steps == upfront.steps == 6
    assert lazy.validation.loss == upfront.validation.loss  # same batches, same tokens: the same training
    assert lazy.metrics["accuracy"] == upfront.metrics["accuracy"]


def test_a_big_split_fits_the_simple_model_beside_training_and_scores_it_once(small_csv, tiny_bert_dir, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(simple_model, "fits_beside_training", lambda rows, device_type: True)  # as on a GPU
    job, summary = _run(small_csv, tiny_bert_dir, tmp_path / "run")
    kinds = [type(e) for e in job.history]
    assert kinds.count(SimpleModelScored) == 1
    assert kinds.index(Started) < kinds.index(SimpleModelScored)  # whenever it is ready, after the run started
    scored = next(e for e in job.history if isinstance(e, SimpleModelScored))
    assert summary.simple_model is not None and summary.simple_model.validation_macro_f1 == pytest.approx(
        scored.macro_f1)
    logged = (RunFolder(tmp_path / "run").metrics).read_text().count('"event": "simple_model"')
    assert logged == 1  # in the run's record too, written by the run's own thread


def test_only_a_big_split_on_a_gpu_fits_its_simple_model_beside_training(monkeypatch):
    # On a CPU the fit and the steps share the cores and the memory: it goes first, whatever the split's size.
    monkeypatch.setattr(simple_model, "BESIDE_TRAINING_FROM_ROWS", 10)
    beside = {(rows, device): SimpleModelFit(list(range(rows)), [], ["a"], 0, device).beside_training
              for rows in (9, 10) for device in ("cpu", "cuda")}
    assert beside == {(9, "cpu"): False, (10, "cpu"): False, (9, "cuda"): False, (10, "cuda"): True}
    assert simple_model.fitted_rows(10**6) == simple_model.RUN_MAX_ROWS and simple_model.fitted_rows(500) == 500


def test_a_fit_beside_training_takes_one_thread_and_one_before_it_a_thread_per_core(monkeypatch):
    """Beside training, a multi-label model's labels must not crowd out the loop launching the GPU's work."""
    monkeypatch.setattr(simple_model, "BESIDE_TRAINING_FROM_ROWS", 10)
    asked = []
    monkeypatch.setattr(simple_model, "fit_simple_model", lambda *args: asked.append(args[-1]))
    for device in ("cpu", "cuda"):
        SimpleModelFit(list(range(10)), [], ["a"], 0, device)._fit()
    assert asked == [None, 1]


def test_the_fit_beside_training_starts_after_the_first_step_and_is_announced_once_ready():
    """The fit starts once the first step is done (not competing with it), and its scored event goes out before the
    first event emitted after it is ready, once."""
    import threading

    from bertstudio.events import Working

    release = threading.Event()
    fit = SimpleModelFit(list(range(10)), [], ["a"], seed=0)
    fit.beside_training = True
    scored = SimpleModelScored(accuracy=1.0, macro_f1=1.0, seconds=0.1, train_rows=10, val_rows=2)
    fit._fit = lambda: release.wait(30) and ("model", scored)
    seen: list = []
    emit = fit.passing_on(seen.append)
    working = Working(phase="loading", done=0, total=0)
    step = Step(step=1, total_steps=3, epoch=0.1, loss=1.0, lr=1e-5, grad_norm=1.0, samples_per_second=1.0,
                tokens_per_second=1.0, elapsed=0.1, eta=1.0)
    emit(working)
    assert fit._thread.ident is None  # nothing beside the first step
    emit(step)
    assert fit._thread.is_alive() and seen == [working, step]  # not ready yet: training goes on without it
    release.set()
    fit._thread.join(30)
    emit(step)
    emit(step)
    assert seen == [working, step, scored, step, step]
    assert fit.result(seen.append) == "model" and seen.count(scored) == 1


def test_a_run_that_ends_before_its_first_step_still_fits_the_simple_model_beside_it():
    fit = SimpleModelFit(list(range(10)), [], ["a"], seed=0)
    fit.beside_training = True
    scored = SimpleModelScored(accuracy=1.0, macro_f1=1.0, seconds=0.1, train_rows=10, val_rows=2)
    fit._fit = lambda: ("model", scored)
    seen: list = []
    assert fit.result(seen.append) == "model" and seen == [scored]


def test_a_fit_that_fails_beside_training_fails_the_run_where_it_waits():
    fit = SimpleModelFit(list(range(10)), [], ["a"], seed=0)
    fit.beside_training = True

    def broken():
        raise MemoryError("no room for the word counts")

    fit._fit = broken
    with pytest.raises(MemoryError):
        fit.result(lambda event: None)
