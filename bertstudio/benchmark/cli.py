"""``bertstudio bench``: latency of models x backends x batch sizes x sequence lengths.

Prints a markdown table, the headline sentence and, for your own models, the
backend to deploy with; ``--out`` writes every measurement as a JSON list.
Progress goes to stderr so stdout stays clean for the results.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from bertstudio.benchmark.backends import BF16_METHODS, DEFAULT_BF16_METHOD
from bertstudio.benchmark.models import ALL_BACKENDS
from bertstudio.benchmark.plan import DEFAULT_BATCH_SIZES, DEFAULT_SEQ_LENS, BenchmarkPlan
from bertstudio.benchmark.report import headline, markdown_table, own_model_recommendations, write_json
from bertstudio.benchmark.runner import check_repeatability, run_benchmark
from bertstudio.benchmark.timing import REPEATABILITY_TOLERANCE, RepeatPolicy
from bertstudio.cli_args import Command, check_writable_file, positive_int
from bertstudio.errors import ConfigError

DEFAULT_MODELS = "distilbert-base-uncased,bert-base-uncased,bundled-minilm"


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


# predict and serve call PyTorch in full precision "torch" (--backend torch): the same name is taken here.
_BACKEND_ALIASES = {"torch": "torch-fp32"}


def _backend_names(text: str) -> tuple[str, ...]:
    return tuple(_BACKEND_ALIASES.get(name, name) for name in _names(text))


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got '{text}'") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers of at least 1, got '{text}'")
    return values


def _add_bench(p: argparse.ArgumentParser) -> None:
    policy = RepeatPolicy()
    p.add_argument("--models", type=_names, default=_names(DEFAULT_MODELS),
                   help="Comma-separated built-in model names and/or run or export folders "
                        f"(default: {DEFAULT_MODELS}). Built-in models that are not downloaded are timed as "
                        "their exact architecture with random weights.")
    p.add_argument("--backends", type=_backend_names, default=ALL_BACKENDS,
                   help=f"Comma-separated, any of {','.join(ALL_BACKENDS)} (default: all; torch, as predict names "
                        "it, is torch-fp32).")
    p.add_argument("--batch-sizes", type=_ints, default=DEFAULT_BATCH_SIZES, help="Comma-separated (default: 1,8,32).")
    p.add_argument("--seq-lens", type=_ints, default=DEFAULT_SEQ_LENS, help="Comma-separated tokens (default: 16,64,128).")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="Where PyTorch runs (default: cpu).")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: every core).")
    p.add_argument("--out", default=None, help="Write every measurement to this JSON file.")
    p.add_argument("--repeats", type=int, default=policy.min_repeats, help="Minimum timed calls per cell.")
    p.add_argument("--min-seconds", type=float, default=policy.min_seconds, help="Minimum timed seconds per cell.")
    p.add_argument("--warmup", type=int, default=policy.warmup, help="Untimed calls before timing a cell.")
    p.add_argument("--bf16-method", default=DEFAULT_BF16_METHOD, choices=list(BF16_METHODS),
                   help="torch-bf16: cast the weights once (cast, faster on CPUs with bf16 instructions) or "
                        "torch.autocast.")
    p.add_argument("--no-tokenization", dest="tokenization", action="store_false",
                   help="Time the model only (skip the tokenizer and end-to-end timings).")
    p.add_argument("--check-repeatability", action="store_true",
                   help="Run everything twice and report how far apart the two medians of each cell are.")
    p.add_argument("--busy-retries", type=int, default=2,
                   help="Measure a cell again (up to this often) when other programs used the CPU meanwhile.")
    p.add_argument("--cache-dir", default=None, help="Where ONNX exports are cached (default: ~/.cache/bertstudio).")
    p.add_argument("--quiet", action="store_true", help="No progress lines.")


def _plan(args: argparse.Namespace):
    from pathlib import Path


    if args.repeats < 1 or args.min_seconds < 0 or args.warmup < 0:
        raise ConfigError("--repeats must be at least 1, --min-seconds and --warmup at least 0.",
                          hint="For example --repeats 10 --min-seconds 1.")
    policy = RepeatPolicy(warmup=args.warmup, min_repeats=args.repeats, min_seconds=args.min_seconds,
                          max_seconds=max(RepeatPolicy().max_seconds, args.min_seconds))
    return BenchmarkPlan(models=args.models, backends=args.backends, batch_sizes=args.batch_sizes,
                         seq_lens=args.seq_lens, device=args.device, threads=args.threads, policy=policy,
                         bf16_method=args.bf16_method, tokenization=args.tokenization,
                         busy_retries=max(0, args.busy_retries),
                         cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else None)


@contextlib.contextmanager
def stop_on_ctrl_c() -> Iterator[threading.Event]:
    """The first Ctrl-C ends the benchmark after the current call and keeps what was measured; a second one
    aborts at once."""
    stop = threading.Event()

    def handle(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("Stopping after the current measurement (Ctrl-C again to abort)…", file=sys.stderr, flush=True)

    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress_printer(quiet: bool):
    def show(progress) -> None:
        if not quiet:
            print(f"[{progress.done}/{progress.total}] {progress.message}", file=sys.stderr, flush=True)

    return show


def repeatability_text(rows) -> str:
    lines = ["| Model | Backend | Batch | Seq | First p50 ms | Second p50 ms | Difference |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        model, backend, batch, seq = row.cell
        flag = "" if row.agrees else " ⚠"
        lines.append(f"| {model} | {backend} | {batch} | {seq} | {row.first_p50_ms:.1f} | {row.second_p50_ms:.1f} | "
                     f"{row.difference:.1%}{flag} |")
    worst = max((r.difference for r in rows), default=0.0)
    agreeing = sum(r.agrees for r in rows)
    lines.append(f"\n{agreeing} of {len(rows)} cells agree within {REPEATABILITY_TOLERANCE:.0%}; "
                 f"largest difference {worst:.1%}.")
    return "\n".join(lines)


def _recommendations(records) -> list[str]:
    """One line per user model (folders) and use: the backend the Export tab should suggest."""

    return [rec.markdown().replace("**", "") for rec in own_model_recommendations(records)]


def run_bench(args: argparse.Namespace) -> int:
    plan = _plan(args)
    if args.out:  # said before minutes of measuring: a folder it cannot write ended in a PermissionError traceback
        check_writable_file(args.out, "--out", "bench.json")
    show = _progress_printer(args.quiet)
    repeatability = None
    with stop_on_ctrl_c() as stop:
        if args.check_repeatability:
            result, repeatability = check_repeatability(plan, on_progress=show, should_stop=stop.is_set)
        else:
            result = run_benchmark(plan, on_progress=show, should_stop=stop.is_set)
    print(markdown_table(result.records))
    print()
    print(headline(result.records))
    for line in [*_recommendations(result.records), *(f"Skipped: {s}" for s in result.skipped)]:
        print(line)
    if repeatability is not None:
        print()
        print(repeatability_text(repeatability))
    if args.out:
        print(f"Wrote {write_json(result.records, args.out)}", file=sys.stderr)
    if result.cancelled:
        print("Stopped before the end; the table shows the cells measured so far.", file=sys.stderr)
        return 130
    if not result.records:  # every cell skipped (e.g. --seq-lens 1000): not a success to a script or a person
        raise ConfigError(f"Nothing was measured: {result.skipped[0] if result.skipped else 'no cell could run'}",
                          "Change the settings the skipped lines above name (lengths of at most 512 tokens for "
                          "BERT-family models) and run it again.")
    return 0


COMMANDS = (
    Command('bench', 'Measure latency: models x backends (PyTorch fp32/bf16, ONNX, ONNX INT8) x sizes.',
            _add_bench, run_bench),
)
