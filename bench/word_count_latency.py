"""One text through the simple word-count model: the per-call cost a blended model adds at batch 1 (``serve``, the
Predict tab), now and as it was when every call rebuilt the vectorizer (and indexed every kept term).

The model of each data set is fitted on its first 5,000 training rows (as bench/blend_latency.py does); both ways
are timed in alternating turns on the same 200 test texts, one at a time, and give the same features (checked).
Results go to the section "Latency of the word-count model at batch 1" of bench/RESULTS.md.

    python bench/word_count_latency.py [--data-dir ../shared/data] [--datasets sst2,ag_news,imdb]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the engine, also from a clone not pip-installed
from defaults import read_rows  # noqa: E402
from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.models.word_counts import WordCountModel  # noqa: E402

TITLE = "Latency of the word-count model at batch 1"


def rebuilt_each_call(model: WordCountModel, texts: list[str]):
    """The features as the code before computed them: a new vectorizer per block on every call."""
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    parts = []
    for block in model.blocks:
        tf = block.counter(vocabulary=block.terms).transform(texts)
        tf.data = np.log(tf.data) + 1
        parts.append(normalize(tf.multiply(block.idf).tocsr()))
    return sp.hstack(parts, format="csr")


def median_ms(work, texts: list[str]) -> float:
    times = []
    for text in texts:
        start = time.perf_counter()
        work([text])
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--datasets", default="sst2,ag_news,imdb")
    args = parser.parse_args()
    lines = ["| data | kept terms | rebuilt each call ms | now ms | faster |", "|---|---|---|---|---|"]
    for name in args.datasets.split(","):
        train = read_rows(args.data_dir / name / "train.csv")[1][:5000]
        labels = sorted({row["label"] for row in train})
        model = WordCountModel.fit([r["text"] for r in train], [labels.index(r["label"]) for r in train], labels,
                                   seed=0)
        texts = [row["text"] for row in read_rows(args.data_dir / name / "test.csv")[1][:200]]
        np.testing.assert_allclose(rebuilt_each_call(model, texts[:20]).toarray(), model.features(texts[:20]).toarray(),
                                   atol=1e-6)
        before, now = [], []
        for _ in range(3):  # alternating turns: load on the machine moves both alike
            before.append(median_ms(lambda t: rebuilt_each_call(model, t) @ model.coef.T, texts))
            now.append(median_ms(model.probabilities, texts))
        b, n = statistics.median(before), statistics.median(now)
        lines.append(f"| {name} | {sum(len(block.terms) for block in model.blocks):,} | {b:.2f} | {n:.2f} | "
                     f"{b / n:.0f}x |")
        print(lines[-1], flush=True)
    body = "\n".join([machine_line(), f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f}.",
                      f"Reproduce: `{command_line()}`", "",
                      "Median milliseconds for one text (features and scores), over 200 test texts, three "
                      "alternating turns.", "", *lines])
    write_section(TITLE, body)
    print(body)


if __name__ == "__main__":
    main()
