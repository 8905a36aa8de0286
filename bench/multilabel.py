"""Issue 20, multi-label: GoEmotions (28 emotions, several per text) with the bundled model and the defaults.

Trains on train.csv, tunes the decision thresholds (and the blend with the simple model) on dev.csv, and reports
test.csv, exactly as a person would run it:

    bertstudio train goemotions/train.csv --val goemotions/dev.csv --test goemotions/test.csv

Target: test macro-F1 >= 0.46 (the GoEmotions paper's BERT-base figure).  The defaults of this script are the
full-size run; ``--train-rows/--dev-rows/--test-rows`` take a seeded random sample of each file for a machine
where the full run would not finish, and the section says so.  ``--weightings auto,none`` also trains with the
positive-class weights off, to measure what they do.

    python bench/multilabel.py                                    # full size (hours on a 2-core CPU)
    python bench/multilabel.py --train-rows 2000 --dev-rows 1000 --test-rows 2000 --weightings auto,none
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the engine, also from a clone not pip-installed
from results import command_line, machine_line, write_section  # noqa: E402

TARGET_MACRO_F1 = 0.46
TITLE = "Multi-label (GoEmotions)"


MIN_ROWS_PER_LABEL = 2  # a sample keeps this many rows of every label, or dev/test would name unseen labels


def covering_sample(body: list[list[str]], rows: int, seed: int) -> list[list[str]]:
    """A seeded random sample of ``rows`` rows that holds every label (column 2, ';'-joined) at least
    MIN_ROWS_PER_LABEL times where the file has them."""
    rng = random.Random(seed)
    order = rng.sample(range(len(body)), len(body))
    picked: list[int] = []
    seen: dict[str, int] = {}
    for i in order:  # first the rows that bring a label still missing
        labels = body[i][1].split(";")
        if any(seen.get(label, 0) < MIN_ROWS_PER_LABEL for label in labels):
            picked.append(i)
            for label in labels:
                seen[label] = seen.get(label, 0) + 1
    chosen = set(picked)
    picked += [i for i in order if i not in chosen][: max(0, rows - len(picked))]
    return [body[i] for i in picked]


def sample_csv(source: Path, target: Path, rows: int | None, seed: int, *, cover: bool = False) -> int:
    """Copy ``source`` to ``target``, keeping a seeded random ``rows`` of its rows (all when None)."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header, body = next(reader), list(reader)
    if rows is not None and rows < len(body):
        body = covering_sample(body, rows, seed) if cover else random.Random(seed).sample(body, rows)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(body)
    return len(body)


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def train_once(files: dict[str, Path], out: Path, weighting: str, seed: int, model: str) -> dict:
    command = ["bertstudio", "train", str(files["train"]), "--val", str(files["dev"]), "--test", str(files["test"]),
               "--out", str(out), "--quiet", "--seed", str(seed), "--model", model]
    if weighting != "auto":
        command += ["--class-weighting", weighting]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"training failed:\n{result.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    evaluation = json.loads((out / "eval.json").read_text())
    config = json.loads((out / "config.json").read_text())
    return {"weighting": weighting, "wall": wall, "summary": summary, "eval": evaluation, "config": config,
            "load": load_average()}


def row(run: dict) -> str:
    e, s, c = run["eval"], run["summary"], run["config"]
    half = e["at_threshold_0_5"]
    simple = s.get("simple_model") or {}
    return (f"| {run['weighting']} ({c['class_weighting']}) | {e['macro_f1']:.4f} | {half['macro_f1']:.4f} | "
            f"{e['micro_f1']:.4f} | {e['accuracy']:.4f} | {e['hamming_loss']:.4f} | "
            f"{e['label_ranking_average_precision']:.4f} | {e['ece']:.4f} | "
            f"{simple.get('macro_f1', float('nan')):.4f} | {'yes' if (simple.get('blend') or {}).get('used') else 'no'} | "
            f"{s['train_seconds']:.0f} | {run['wall']:.0f} |")


def weighting_note(runs: list[dict]) -> str:
    """What turning the positive-class weights off changed, when both were trained."""
    by_value = {r["config"]["class_weighting"]: r["eval"]["macro_f1"] for r in runs}
    if {"balanced", "none"} <= set(by_value):
        gap = (by_value["balanced"] - by_value["none"]) * 100
        return f"{gap:+.1f} points of test macro-F1 with the weights ({by_value['balanced']:.4f} vs {by_value['none']:.4f})."
    return "not measured in this run (add `--weightings auto,none`)."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--train-rows", type=int, default=None, help="sample of train.csv (default: all 43,410)")
    parser.add_argument("--dev-rows", type=int, default=None, help="sample of dev.csv (default: all 5,426)")
    parser.add_argument("--test-rows", type=int, default=None, help="sample of test.csv (default: all 5,427)")
    parser.add_argument("--weightings", default="auto", help="comma-separated class weightings to train with")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model", default="bundled-minilm")
    args = parser.parse_args()

    source = Path(args.data_dir) / "goemotions"
    work = Path(tempfile.mkdtemp(prefix="bench-multilabel-"))
    files, sizes = {}, {}
    for split, rows in (("train", args.train_rows), ("dev", args.dev_rows), ("test", args.test_rows)):
        files[split] = work / f"{split}.csv"
        sizes[split] = sample_csv(source / f"{split}.csv", files[split], rows, args.seed, cover=split == "train")
    runs = [train_once(files, work / f"run-{w}", w, args.seed, args.model) for w in args.weightings.split(",")]

    best = runs[0]
    verdict = "meets" if best["eval"]["macro_f1"] >= TARGET_MACRO_F1 else "misses"
    full = all(getattr(args, f"{s}_rows") is None for s in ("train", "dev", "test"))
    size_note = ("the full files" if full else
                 f"seeded samples (seed {args.seed}) of {sizes['train']:,} train, {sizes['dev']:,} dev and "
                 f"{sizes['test']:,} test rows: the full run does not finish on this shared 2-core machine")
    decisions = {d["field"]: d["reason"] for d in best["config"].get("decisions", [])}
    body = f"""{machine_line()} Load average at the end of each run: {', '.join(r['load'] for r in runs)} (the
2 cores were shared with other engineers' jobs, so times are several times those of a quiet machine).
Reproduce: `{command_line()}`; the full-size run is `python bench/multilabel.py` (defaults).

Data: {size_note}. Model {args.model}, every other setting automatic; thresholds and the blend chosen on dev,
figures on test. Macro-F1 uses each label's threshold tuned on dev (labels with fewer than 5 dev examples use the
global one); "at 0.5" is the same model at threshold 0.5 for every label (the figure that picks the best
checkpoint during training).

| class weighting (resolved) | macro-F1 | macro-F1 at 0.5 | micro-F1 | subset accuracy | Hamming loss | LRAP | ECE | simple model macro-F1 | blend used | train s | wall s |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(row(r) for r in runs)}

- Target macro-F1 >= {TARGET_MACRO_F1} (GoEmotions paper, BERT-base, full data): this run {verdict} it
  ({best['eval']['macro_f1']:.4f}){'' if full else ' on a fraction of the training data, so it says little about the full-size figure'}.
- Automatic class weighting: {decisions.get('class_weighting', '?')}
- Task detection: {decisions.get('task', '?')}
- Thresholds: {best['eval']['threshold_choice']['note']}
- Verdict: {(best['summary'].get('simple_model') or {}).get('verdict', '-')}
- Positive-class weights on against off: {weighting_note(runs)}
- Settings: max_length {best['config']['max_length']}, batch {best['config']['batch_size']}, epochs {best['config']['epochs']}, lr {best['config']['lr']:g}, {best['config']['precision']}.
"""
    write_section(TITLE, body)
    print(body)


if __name__ == "__main__":
    main()
