"""Memory while reading and preparing a large file (issue 22: a million rows in flat memory).

Each measurement runs in a fresh process (peak resident memory, ``ru_maxrss``, is per process and never goes
down): it reads a 200-row file first, so every lazy import and code path is paid for, then reads and prepares
the generated file; the growth of the peak is what the file itself cost.  Texts are 5 to 80 words
(~250 bytes a row, like support tickets): 100k rows is a 25 MB file.

Measured on the 2-core reference machine (datasets 4, pyarrow CSV): read_table + prepare grew the peak by
75 MB for 20k rows and 202 MB for 100k rows, about 2 MB per thousand rows, eight times the file's size (read_table
~0.75 MB per thousand rows, prepare the rest; where exactly is for the streaming work to find).  So the bound below guards against getting worse, and the flat-memory target (growth independent of
the row count) is an expected failure until reading streams through Arrow end to end.
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
# 202 MB measured for 100k rows; the bound leaves room for allocator and library-version noise, not for a
# second copy of the data.
GROWTH_BOUND_MB = 320
FLAT_SLACK_MB = 40  # "flat": 5x the rows may cost at most this much more than 1x

PROBE = textwrap.dedent("""
    import json, resource, sys
    from bertstudio.data.inspect import read_and_prepare

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    read_and_prepare(sys.argv[1])
    before = peak_mb()
    _, _, prepared = read_and_prepare(sys.argv[2])
    print(json.dumps({"growth_mb": peak_mb() - before, "rows": len(prepared.dataset)}))
""")


def _write_tickets(path: Path, rows: int) -> Path:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    labels = ("billing", "delivery", "praise", "other")
    with path.open("w", encoding="utf-8") as handle:
        handle.write("text,label\n")
        for i in range(rows):
            handle.write('"' + " ".join(rng.choices(vocab, k=rng.randint(5, 80))) + f'",{labels[i % 4]}\n')
    return path


def _growth(tmp_path: Path, small: Path, big: Path) -> float:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, BERTSTUDIO_CACHE=str(tmp_path / f"cache-{big.stem}"), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-c", PROBE, str(small), str(big)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["growth_mb"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("large")
    return {"small": _write_tickets(folder / "small.csv", 200),
            "20k": _write_tickets(folder / "r20k.csv", SMALL_ROWS),
            "100k": _write_tickets(folder / "r100k.csv", ROWS)}


@pytest.fixture(scope="module")
def growth(files, tmp_path_factory) -> dict[str, float]:
    tmp = tmp_path_factory.mktemp("memory")
    return {size: _growth(tmp, files["small"], files[size]) for size in ("20k", "100k")}


def test_reading_and_preparing_100k_rows_stays_under_the_bound(growth):
    assert growth["100k"] < GROWTH_BOUND_MB, growth


@pytest.mark.xfail(strict=True, reason="issue 22: read_table and prepare still grow with the row count "
                                       "(about 2 MB per thousand rows measured); flat memory needs Arrow end to end")
def test_memory_stays_flat_with_data_size(growth):
    assert growth["100k"] - growth["20k"] < FLAT_SLACK_MB, growth
