"""What ``auto`` gains by running a run's weights in bf16: ``bertstudio predict`` (``Predictor.predict``) with
``--backend torch`` (fp32) against ``--backend auto``, which on hardware that computes bf16 runs the weights of a
run trained in bf16 in bf16 (``predict.locate.auto_backends``).

Speed alone would not justify it: the labels must stay the labels. So each data set gets a short real run of the
bundled model (a few hundred steps, so its probabilities are shaped like a trained model's rather than near-ties),
and both ways label the same test texts: texts per second (alternating turns, so the machine's load moves both
alike), the share of texts that get the same label, and each way's accuracy against the true labels. Results go to
the section "Predict: fp32 against auto (bf16)" of bench/RESULTS.md.

    python bench/predict_precision.py [--data-dir ../shared/data] [--datasets sst2,ag_news] [--rows 3000]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the engine, also from a clone not pip-installed
from defaults import data_sets_parser, read_rows, write_rows  # noqa: E402
from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.predict.predictor import Predictor, load_predictor  # noqa: E402

TITLE = "Predict: fp32 against auto (bf16)"
TURNS = 5


@dataclass(frozen=True)
class Row:
    dataset: str
    texts: int
    auto_backend: str  # what auto chose here
    fp32_per_s: float
    auto_per_s: float
    same_labels: float
    fp32_accuracy: float
    auto_accuracy: float

    def line(self) -> str:
        return (f"| {self.dataset} | {self.texts:,} | {self.auto_backend} | {self.fp32_per_s:,.0f} | "
                f"{self.auto_per_s:,.0f} | {self.auto_per_s / self.fp32_per_s:.2f}x | {self.same_labels:.2%} | "
                f"{self.fp32_accuracy:.2%} | {self.auto_accuracy:.2%} |")


def train_run(name: str, data_dir: Path, rows: int, folder: Path) -> Path:
    """A short real run of the bundled model on ``rows`` training rows (1 epoch), trained in its automatic
    precision: bf16 on a CPU with bf16 instructions."""
    header, all_rows = read_rows(data_dir / name / "train.csv")
    train = write_rows(folder / f"{name}.csv", header, all_rows[:rows])
    run = folder / f"run-{name}"
    done = subprocess.run([sys.executable, "-m", "bertstudio", "train", str(train), "--out", str(run), "--epochs", "1",
                           "--simple-model", "no", "--quiet"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: bertstudio train failed:\n{done.stderr[-3000:]}")
    return run


def texts_per_second(predictor: Predictor, texts: list[str]) -> float:
    began = time.perf_counter()
    predictor.predict(texts)
    return len(texts) / (time.perf_counter() - began)


def measure(name: str, run: Path, texts: list[str], labels: list[str]) -> Row:
    fp32, auto = load_predictor(run, backend="torch"), load_predictor(run, backend="auto")
    for predictor in (fp32, auto):  # warm-up: the first calls load kernels and caches
        predictor.predict(texts[:64])
    fp32_speed, auto_speed = [], []
    for turn in range(TURNS):  # alternating turns on the same share of the texts
        chunk = texts[turn::TURNS]
        fp32_speed.append(texts_per_second(fp32, chunk))
        auto_speed.append(texts_per_second(auto, chunk))
    fp32_labels, auto_labels = np.array(fp32.predict(texts).labels), np.array(auto.predict(texts).labels)
    truth = np.array(labels)
    return Row(name, len(texts), auto.backend.name, statistics.median(fp32_speed), statistics.median(auto_speed),
               float(np.mean(fp32_labels == auto_labels)), float(np.mean(fp32_labels == truth)),
               float(np.mean(auto_labels == truth)))


def main() -> None:
    parser = data_sets_parser(__doc__, datasets="sst2,ag_news", rows=3000, rows_help="training rows of each run")
    parser.add_argument("--texts", type=int, default=1500, help="test texts labelled by each way")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            run = train_run(name, args.data_dir, args.rows, Path(tmp))
            test = read_rows(args.data_dir / name / "test.csv")[1][:args.texts]
            rows.append(measure(name, run, [r["text"] for r in test], [r["label"] for r in test]))
            print(rows[-1].line(), flush=True)
    body = "\n".join([
        machine_line(), f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f}.",
        f"Reproduce: `{command_line()}`", "",
        "Texts per second through `Predictor.predict` (tokenizing, the model, calibration; `predict`'s default "
        f"batch of 32), median of {TURNS} alternating turns on the same texts; a run of the bundled model trained "
        f"1 epoch on the first {args.rows:,} training rows. *Same labels*: the share of test texts both ways label "
        "alike.", "",
        "| data | test texts | auto ran | fp32 texts/s | auto texts/s | auto / fp32 | same labels | fp32 accuracy "
        "| auto accuracy |",
        "|---|---|---|---|---|---|---|---|---|", *(row.line() for row in rows)])
    write_section(TITLE, body)
    print(body)


if __name__ == "__main__":
    main()
