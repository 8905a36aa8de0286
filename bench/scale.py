"""A million rows: time to the first training step and peak memory, at 100k, 300k and 1M rows (issue 22).

Generates support-ticket-like files (texts of 5 to 80 words from a few hundred everyday words, five classes,
~250 bytes a row) and runs, for each size, as a person would:

* ``bertstudio inspect FILE``: wall time and peak resident memory (the whole command);
* ``bertstudio train FILE --max-steps 10``: the bundled model with every default; time from the command to the
  first training step (the first ``step`` line in the run's ``metrics.jsonl``) and to the data being ready (the
  ``started`` line: read, checked, split, validation and test tokenized, model loaded; a training split of 50,000
  texts or more is tokenized as its batches are drawn), how long the simple word-count model took to fit in
  between (on a GPU a big split fits it on a thread beside the first steps instead: "beside"), the peak resident
  memory until that first step, and the whole command's time and peak memory (the other 9 steps, scoring the
  capped 5,000 validation and 10,000 test rows, saving: ``--stop-at-first-step`` leaves them out).

Each command starts with an empty data cache (``BERTSTUDIO_CACHE``), so reading the file into its Arrow copy is
part of the time, as on a first upload.  Peak memory is the kernel's high-water mark of the process's resident
set (``wait4``'s ``ru_maxrss``), which also counts pages of memory-mapped Arrow files while they are read.
Targets: 1M rows to the first step in under 90 s on the 2-core reference machine, peak memory under 2 GB, time
growing at most linearly and memory sub-linearly with the rows.  The load average is recorded with each figure:
the machine is shared, and other work on it slows every figure here.

Results go to the section "A million rows (bench/scale.py)" of bench/RESULTS.md; the generated files stay in
bench/_out/scale/ (a million rows is 250 MB).

    python bench/scale.py [--sizes 100000 300000 1000000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))  # the engine, also from a clone not pip-installed
from results import command_line, machine_line, write_section  # noqa: E402

OUT = HERE / "_out" / "scale"
TITLE = "A million rows (bench/scale.py)"
SIZES = (100_000, 300_000, 1_000_000)
TARGET_FIRST_STEP_S = 90
TARGET_PEAK_MB = 2048

WORDS = {
    "billing": "invoice charged twice refund payment card bank account overcharged fee subscription price bill "
               "receipt credit debit amount cancel plan renewal discount coupon",
    "delivery": "package parcel arrived late courier tracking number shipped address box damaged missing lost "
                "delivery driver week days warehouse order never came",
    "account": "login password reset email locked username verify code profile settings access app update error "
               "page sign account two factor phone",
    "praise": "thanks great excellent helpful friendly quick fast love happy recommend amazing support team "
              "service wonderful perfect best kind",
    "other": "question hello information hours store opening location website product size colour stock available "
             "gift card newsletter feedback suggestion",
}
COMMON = ("i my the a an and to of is was it this that for on with you your we our please can not have has "
          "been still when what why how there any just very so but again today yesterday order help").split()


def write_tickets(path: Path, rows: int, seed: int = 0) -> Path:
    """``rows`` tickets of 5 to 80 words, a third of them from their class's own words; five classes."""
    if path.exists():
        return path
    rng = random.Random(seed)
    classes = list(WORDS)
    own = {name: words.split() for name, words in WORDS.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write("text,label\n")
        for _ in range(rows):
            label = rng.choice(classes)
            words = [rng.choice(own[label]) if rng.random() < 0.33 else rng.choice(COMMON)
                     for _ in range(rng.randint(5, 80))]
            handle.write('"' + " ".join(words).capitalize() + f'.",{label}\n')
    tmp.replace(path)
    return path


@dataclass
class Measured:
    command: str
    rows: int
    seconds: float  # the whole command (train: until its first step unless measured whole, see measure)
    peak_mb: float  # the whole command's (as far as it ran)
    first_step_s: float | None = None  # train only
    started_s: float | None = None  # train only: data read, tokenized and the model built ("started")
    simple_model_s: float | None = None  # train only: the simple word-count model, fit before the first step
    load: float = 0.0  # 1-minute load average when the command ended
    returncode: int = 0
    first_step_peak_mb: float | None = None  # train only: the peak resident memory until the first step
    whole: bool = False  # train only: run to its end (else stopped at its first step)


def measure(args: list[str], rows: int, *, run_dir: Path | None = None, whole: bool = False) -> Measured:
    """Run ``bertstudio ARGS`` with an empty data cache; its wall time and peak RSS.

    With ``run_dir`` (training) the peak until the first training step is read when that step is logged (the
    kernel's high-water mark, VmHWM), and the command is stopped there unless ``whole``: what follows (9 more
    steps, then scoring the capped 5,000 validation and 10,000 test rows) costs the same time at every size, and
    on a busy shared machine took ten minutes per size. Its memory does not stay at the first step's, though: the
    whole command's peak is the figure a person's machine must hold.
    """
    cache = Path(tempfile.mkdtemp(prefix="scale-cache-", dir=OUT))
    env = dict(os.environ, BERTSTUDIO_CACHE=str(cache), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    log = cache.with_suffix(".log")
    launched, start = time.time(), time.perf_counter()
    with log.open("w") as errors:  # a file, not a pipe: progress bars would fill a pipe nobody reads meanwhile
        process = subprocess.Popen([sys.executable, "-m", "bertstudio", *args], env=env, stdout=subprocess.DEVNULL,
                                   stderr=errors)
    events: dict[str, dict] = {}
    metrics = run_dir / "metrics.jsonl" if run_dir else None
    peak_at_first_step = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if metrics is not None and "step" not in events:
            events = _first_events(metrics)
            if "step" in events:
                peak_at_first_step = _high_water_mb(process.pid)
                if not whole:
                    process.terminate()
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if metrics is not None:
        events = _first_events(metrics)
    stopped_by_us = "step" in events and process.returncode == -15
    if process.returncode and not stopped_by_us:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    shutil.rmtree(cache, ignore_errors=True)
    log.unlink(missing_ok=True)

    def since_launch(kind: str) -> float | None:
        return events[kind]["time"] - launched if kind in events else None

    return Measured(" ".join(["bertstudio", *args]), rows, seconds, usage.ru_maxrss / 1024, since_launch("step"),
                    since_launch("started"), events.get("simple_model", {}).get("seconds"), os.getloadavg()[0],
                    0 if stopped_by_us else process.returncode, peak_at_first_step, whole)


def _high_water_mb(pid: int) -> float | None:
    """The peak resident memory of a running process so far (Linux: VmHWM), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), None)


def _first_events(metrics: Path) -> dict[str, dict]:
    """The first event of each kind in ``metrics.jsonl`` (each carries its wall-clock ``time``)."""
    try:
        lines = metrics.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    first: dict[str, dict] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:  # a line being written
            continue
        first.setdefault(event.get("event"), event)
    return first


def run_size(rows: int, whole: bool) -> tuple[Measured, Measured]:
    data = write_tickets(OUT / f"tickets-{rows}.csv", rows)
    inspected = measure(["inspect", str(data)], rows)
    print(f"{rows:>9,} inspect: {inspected.seconds:.1f} s, peak {inspected.peak_mb:.0f} MB, "
          f"load {inspected.load:.1f}", flush=True)
    run_dir = OUT / f"run-{rows}"
    shutil.rmtree(run_dir, ignore_errors=True)
    trained = measure(["train", str(data), "--max-steps", "10", "--out", str(run_dir)], rows, run_dir=run_dir,
                      whole=whole)
    print(f"{rows:>9,} train: started {trained.started_s or float('nan'):.1f} s, simple model "
          f"{trained.simple_model_s or 0:.1f} s, first step {trained.first_step_s or float('nan'):.1f} s "
          f"(peak {trained.first_step_peak_mb or float('nan'):.0f} MB), {'whole command' if whole else 'stopped'} "
          f"{trained.seconds:.1f} s, peak {trained.peak_mb:.0f} MB, load {trained.load:.1f}", flush=True)
    return inspected, trained


def growth(values: dict[int, float]) -> str:
    """How a figure grows against the rows, from the smallest size to the largest (1.0: linear)."""
    sizes = sorted(values)
    small, big = sizes[0], sizes[-1]
    if not values[small] or small == big:
        return "n/a"
    return f"x{values[big] / values[small]:.1f} for x{big / small:.0f} rows"


def first_step_peak(trained: Measured) -> float:
    """The peak until the first step (a run stopped there: its whole peak, as saved before VmHWM was read)."""
    return trained.first_step_peak_mb if trained.first_step_peak_mb is not None else trained.peak_mb


def report(results: dict[int, tuple[Measured, Measured]]) -> str:
    rows = ["| rows | inspect: time | inspect: peak memory | train: data ready (\"started\") | train: simple model "
            "fit | train: to first step | train: peak memory to the first step | train: whole command (10 steps, "
            "scoring, saving): time / peak memory | load average (1 min) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, (inspected, trained) in sorted(results.items()):
        first = f"{trained.first_step_s:.1f} s" if trained.first_step_s is not None else "no step"
        started = f"{trained.started_s:.1f} s" if trained.started_s is not None else "-"
        simple = f"{trained.simple_model_s:.1f} s" if trained.simple_model_s is not None else "beside"
        whole = f"{trained.seconds:.1f} s / {trained.peak_mb:,.0f} MB" if trained.whole else "not run"
        rows.append(f"| {n:,} | {inspected.seconds:.1f} s | {inspected.peak_mb:,.0f} MB | {started} | "
                    f"{simple} | {first} | {first_step_peak(trained):,.0f} MB | {whole} | "
                    f"{inspected.load:.1f} / {trained.load:.1f} |")
    largest = max(results)
    inspected, trained = results[largest]
    first = trained.first_step_s or float("inf")
    peak = max(inspected.peak_mb, trained.peak_mb)
    which = "inspect and the whole train command" if trained.whole else "inspect and train to its first step"
    verdict = [
        f"- {largest:,} rows to the first step: {first:.1f} s (target under {TARGET_FIRST_STEP_S} s: "
        f"{'met' if first < TARGET_FIRST_STEP_S else 'not met'}); peak memory ({which}) {peak:,.0f}"
        f" MB (target under {TARGET_PEAK_MB:,} MB: {'met' if peak < TARGET_PEAK_MB else 'not met'}).",
        f"- Growth from {min(results):,} to {largest:,} rows: time to first step "
        f"{growth({n: t.first_step_s or 0 for n, (_, t) in results.items()})}, train peak memory to the first step "
        f"{growth({n: first_step_peak(t) for n, (_, t) in results.items()})}, inspect time "
        f"{growth({n: i.seconds for n, (i, _) in results.items()})}, inspect peak memory "
        f"{growth({n: i.peak_mb for n, (i, _) in results.items()})}.",
    ]
    return "\n".join([machine_line(), "", *rows, "", *verdict])


SAVED = OUT / "results.json"


def save(rows: int, pair: tuple[Measured, Measured]) -> None:
    """Each size's figures as soon as they are measured: a run cut short keeps what it measured."""
    saved = json.loads(SAVED.read_text()) if SAVED.exists() else {}
    saved[str(rows)] = [asdict(m) for m in pair]
    SAVED.write_text(json.dumps(saved, indent=1))


def load_saved() -> dict[int, tuple[Measured, Measured]]:
    return {int(rows): (Measured(**a), Measured(**b)) for rows, (a, b) in json.loads(SAVED.read_text()).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--no-write", action="store_true", help="Print the figures, leave bench/RESULTS.md alone.")
    parser.add_argument("--from-saved", action="store_true",
                        help="Measure nothing: write the figures saved in bench/_out/scale/results.json.")
    parser.add_argument("--stop-at-first-step", action="store_true",
                        help="Stop each train command at its first step (faster; no whole-command figures).")
    parser.add_argument("--note", default="", help="A paragraph added under the table (what else ran meanwhile).")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.from_saved:
        results = load_saved()
    else:
        results = {}
        for rows in args.sizes:
            results[rows] = run_size(rows, whole=not args.stop_at_first_step)
            save(rows, results[rows])
    failed = [m for pair in results.values() for m in pair if m.returncode]
    body = report(results)
    print(body)
    if failed:
        print("Failed: " + "; ".join(m.command for m in failed), file=sys.stderr)
        sys.exit(1)
    if not args.no_write:
        # The command that measures (a section written --from-saved shows it, not the writing command).
        measuring = "python bench/scale.py" if args.from_saved else command_line()
        write_section(TITLE, f"{body}\n\n{args.note}\n\nReproduce: `{measuring}`")


if __name__ == "__main__":
    main()
