"""Memory while reading and preparing a large file (issue 22: a million rows in flat memory).

Each measurement runs in a fresh process: it reads a 200-row file first, so every lazy import and code path is
paid for, then reads and prepares the generated file and reports the peak of what that held on the heap:
Python's allocations (tracemalloc) plus Arrow's memory pool (``max_memory``).  Not the resident set size: the
Arrow cache is memory-mapped, its pages count in RSS but the system takes them back under pressure, so RSS
went from failing to passing the flatness check depending on what else the machine was running.
Texts are 5 to 80 words (~250 bytes a row, like support tickets): 100k rows is a 25 MB file.

Measured on the 2-core reference machine (datasets 4, pyarrow with mimalloc), before reading and preparing
streamed: 20k rows held 16 MB of Python objects + 23 MB in Arrow's pool at the peak; 100k rows 78 MB + 107 MB,
about 1.8 MB per thousand rows, growing linearly.  Since they stream (the CSV builder parses 10,000-row chunks,
``prepare`` cleans 10,000-row batches into a memory-mapped Arrow file, see ``data/arrow_batches.py``): 20 MB at
20k rows and 23 MB at 100k (datasets 5), flat but for a 64-bit hash per kept row (to find repeated texts)
and its sort.  Multi-label files (one to three of 12 labels per ticket) held 49 MB at 20k rows and 233 MB at 100k
while their preparation read the whole table; since they stream too, 21 and 23 MB.  The bound below guards
against getting worse; the flatness check is the million-row part of issue 22.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROWS = 100_000
SMALL_ROWS = 20_000
# 185 MB measured for 100k rows before streaming (23 MB since); the bound was kept as it was.
GROWTH_BOUND_MB = 280
FLAT_SLACK_MB = 40  # "flat": 5x the rows may cost at most this much more than 1x

PROBE = textwrap.dedent("""
    import json, sys, tracemalloc
    import pyarrow as pa
    from bertstudio.data.inspect import read_and_prepare

    read_and_prepare(sys.argv[1])
    pool = pa.default_memory_pool()
    arrow_before = pool.max_memory() or 0
    tracemalloc.start()
    _, _, prepared = read_and_prepare(sys.argv[2])
    python_peak = tracemalloc.get_traced_memory()[1]
    arrow_peak = (pool.max_memory() or 0) - arrow_before
    print(json.dumps({"growth_mb": (python_peak + arrow_peak) / 2**20, "rows": len(prepared.dataset),
                      "multi_label": prepared.multilabel is not None}))
""")


def _write_tickets(path: Path, rows: int, *, multi_label: bool = False) -> Path:
    """Support tickets; ``multi_label``: each with one to three of 12 labels joined by ';'."""
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    labels = ("billing", "delivery", "praise", "other")
    tags = [f"tag{i}" for i in range(12)]
    with path.open("w", encoding="utf-8") as handle:
        handle.write("text,label\n")
        for i in range(rows):
            label = ";".join(rng.sample(tags, rng.randint(1, 3))) if multi_label else labels[i % 4]
            handle.write('"' + " ".join(rng.choices(vocab, k=rng.randint(5, 80))) + f'",{label}\n')
    return path


def _growth(tmp_path: Path, small: Path, big: Path, multi_label: bool) -> float:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, BERTSTUDIO_CACHE=str(tmp_path / f"cache-{big.stem}"), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-c", PROBE, str(small), str(big)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["multi_label"] is multi_label, result
    return result["growth_mb"]


KINDS = {"single-label": False, "multi-label": True}


@pytest.fixture(scope="module", params=list(KINDS))
def growth(request, tmp_path_factory) -> dict[str, float]:
    folder = tmp_path_factory.mktemp("large")
    multi_label = KINDS[request.param]
    small = _write_tickets(folder / "small.csv", 200, multi_label=multi_label)
    return {name: _growth(folder, small, _write_tickets(folder / f"r{rows}.csv", rows, multi_label=multi_label),
                          multi_label)
            for name, rows in (("20k", SMALL_ROWS), ("100k", ROWS))}


def test_reading_and_preparing_100k_rows_stays_under_the_bound(growth):
    assert growth["100k"] < GROWTH_BOUND_MB, growth


def test_memory_stays_flat_with_data_size(growth):
    assert growth["100k"] - growth["20k"] < FLAT_SLACK_MB, growth
