"""What the blend costs at prediction time: the fine-tuned model alone against the blend (the same model plus the
simple word-count model), through ``Predictor.predict`` as ``bertstudio predict``, ``serve`` and the Predict tab
use it, with PyTorch and the ONNX export, at batch 1 and 32, on short, medium and long texts.

A run ships the blend only when validation chose it (issue 23); its prediction then runs the word-count model
(TF-IDF word and character n-grams + a linear layer, no pickle) beside the transformer and mixes the
probabilities. Latency does not depend on whether the weights are any good, so each data set gets a run of the
bundled model cut to one optimizer step (``--max-steps 1``); its word-count model is fitted on the same training
rows as in a real run. The two predictors differ only in the word-count part; they are timed in alternating turns
on the same texts so the machine's load moves both alike. Results go to the section "Latency of the blend" of
bench/RESULTS.md.

    python bench/blend_latency.py [--data-dir ../shared/data] [--datasets sst2,ag_news,imdb] [--rows 5000]
"""

from __future__ import annotations

import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the engine, also from a clone not pip-installed
from defaults import data_sets_parser, read_rows, write_rows  # noqa: E402
from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.models.word_counts import WordCountModel, joined_texts  # noqa: E402
from bertstudio.predict.predictor import Predictor, load_predictor  # noqa: E402

TITLE = "Latency of the blend"
BATCHES = (1, 32)
BACKENDS = ("torch", "onnx")
BLEND_WEIGHT = 0.6  # any weight below 1 runs both parts; the figure does not depend on it


@dataclass(frozen=True)
class Row:
    dataset: str
    backend: str
    batch: int
    alone_ms: float  # per text, the fine-tuned model alone
    blend_ms: float  # per text, the blend
    words_ms: float  # per text, the word-count model alone

    def line(self) -> str:
        return (f"| {self.dataset} | {self.backend} | {self.batch} | {self.alone_ms:.2f} | {self.blend_ms:.2f} | "
                f"{self.blend_ms / self.alone_ms:.2f}x | {self.words_ms:.2f} |")


def train_short_run(name: str, data_dir: Path, rows: int, folder: Path) -> Path:
    """A run of the bundled model cut to one step, on ``rows`` training rows; then its ONNX export."""
    header, all_rows = read_rows(data_dir / name / "train.csv")
    train = write_rows(folder / f"{name}.csv", header, all_rows[:rows])
    run = folder / f"run-{name}"
    for command in (["train", str(train), "--out", str(run), "--max-steps", "1", "--quiet"],
                    ["export", str(run), "--format", "onnx", "--rows", "64"]):
        done = subprocess.run([sys.executable, "-m", "bertstudio", *command], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{name}: bertstudio {command[0]} failed:\n{done.stderr[-3000:]}")
    return run


def blended(predictor: Predictor, run: Path) -> Predictor:
    """The same predictor with the run's word-count model blended in, as a run whose blend won is loaded."""
    twin = copy.copy(predictor)
    twin.prep = predictor.prep.model_copy(update={"blend_weight": BLEND_WEIGHT})
    twin.simple = WordCountModel.load(run / "simple_model")
    return twin


def per_text_ms(work, texts: list[str], batch: int, rounds: int) -> list[float]:
    times = []
    for start in range(0, rounds * batch, batch):
        chunk = [texts[(start + i) % len(texts)] for i in range(batch)]
        began = time.perf_counter()
        work(chunk)
        times.append(1000 * (time.perf_counter() - began) / batch)
    return times


def measure(name: str, run: Path, texts: list[str], backend: str, batch: int, rounds: int) -> Row:
    alone = load_predictor(run, backend=backend, batch_size=batch)
    blend = blended(alone, run)
    words = blend.simple
    for work in (alone.predict, blend.predict):  # warm-up: first calls load kernels and caches
        per_text_ms(work, texts, batch, 3)
    alone_t, blend_t, words_t = [], [], []
    for turn in range(5):  # alternating turns, so load on the machine moves all three alike
        alone_t += per_text_ms(alone.predict, texts[turn::5], batch, rounds)
        blend_t += per_text_ms(blend.predict, texts[turn::5], batch, rounds)
        words_t += per_text_ms(lambda chunk: words.probabilities(joined_texts(chunk, None)), texts[turn::5], batch,
                               rounds)
    return Row(name, backend, batch, statistics.median(alone_t), statistics.median(blend_t),
               statistics.median(words_t))


def main() -> None:
    parser = data_sets_parser(__doc__, datasets="sst2,ag_news,imdb", rows=5000,
                              rows_help="training rows of each run (the word-count model's)")
    parser.add_argument("--rounds", type=int, default=8, help="batches per predictor per turn (5 turns)")
    args = parser.parse_args()
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            run = train_short_run(name, args.data_dir, args.rows, Path(tmp))
            texts = [r["text"] for r in read_rows(args.data_dir / name / "test.csv")[1][:2000]]
            words = sum(len(t.split()) for t in texts) / len(texts)
            notes.append(f"- {name}: test texts of {words:.0f} words on average; word-count model fitted on "
                         f"{min(args.rows, len(read_rows(args.data_dir / name / 'train.csv')[1])):,} training rows.")
            for backend in BACKENDS:
                for batch in BATCHES:
                    rows.append(measure(name, run, texts, backend, batch, args.rounds))
                    print(rows[-1].line(), flush=True)
    body = "\n".join([
        machine_line(), f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f}.", f"Reproduce: `{command_line()}`", "",
        "Milliseconds per text (median over 5 alternating turns), through `Predictor.predict` (tokenizing, the "
        "model, calibration, and for the blend the word-count model and the mix). *Word-count part*: the simple "
        "model alone on the same texts. The bundled model (all-MiniLM-L6-v2, 6 layers) is the smallest transformer "
        "the tool trains, so its ratio is the largest a blend adds: for BERT-base the same word-count part is a "
        "smaller share.", "",
        "| data | backend | batch | fine-tuned alone ms | blend ms | blend / alone | word-count part ms |",
        "|---|---|---|---|---|---|---|", *(row.line() for row in rows), "", *notes])
    write_section(TITLE, body)
    print(body)


if __name__ == "__main__":
    main()
