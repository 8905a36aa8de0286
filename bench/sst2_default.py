"""Issue "engine foundation", done-when: default settings on SST-2 with the bundled model.

Runs exactly the command a user would type and records time, real (non-padding)
tokens/s and accuracy on SST-2 dev in bench/RESULTS.md.

    python bench/sst2_default.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the engine, also from a clone not pip-installed
from results import machine_line, write_section  # noqa: E402

TARGET_ACCURACY = 0.89


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    args = parser.parse_args()
    sst2 = Path(args.data_dir) / "sst2"
    out = Path(tempfile.mkdtemp(prefix="sst2-default-")) / "run"
    command = ["bertstudio", "train", str(sst2 / "train.csv"), "--test", str(sst2 / "dev.csv"), "--out", str(out),
               "--quiet"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"training failed:\n{result.stderr}")
    headline = json.loads(result.stdout.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    verdict = "meets" if headline["accuracy"] >= TARGET_ACCURACY else "MISSES"
    body = f"""{machine_line()}

Command: `bertstudio train ../shared/data/sst2/train.csv --test ../shared/data/sst2/dev.csv` (all defaults,
bundled MiniLM-L6). Reproduce with `python bench/sst2_default.py`.

| figure | value |
|---|---|
| SST-2 dev accuracy | {headline['accuracy']:.4f} ({verdict} the {TARGET_ACCURACY} target) |
| SST-2 dev macro-F1 | {headline['macro_f1']:.4f} |
| training time (loop only) | {headline['train_seconds']:.0f} s |
| wall time (command, incl. loading and tokenizing) | {wall:.0f} s |
| real (non-padding) tokens/s | {summary['tokens_per_second']:,.0f} |
| samples/s | {summary['samples_per_second']:,.1f} |
| optimizer steps | {summary['steps']:,} (best at epoch {summary['best_epoch']}) |
| automatic settings | max_length {config['max_length']}, batch {config['batch_size']}, epochs {config['epochs']}, lr {config['lr']:g}, head lr {config['head_lr']:g}, {config['precision']} |
"""
    write_section("Engine defaults on SST-2", body)
    print(body)


if __name__ == "__main__":
    main()
