"""The Benchmark tab's time estimate against the benchmark's measured wall time.

For a few selections of the app's benchmark (its quick comparison's repeats and retries, a fresh ONNX cache so
exports count), the estimate shown before the run (``benchmark.plan.estimate_benchmark``) and the wall time the run
took.  Registry models not downloaded are timed as their exact architecture with random weights, as the app does.
``default`` is what the Benchmark tab preselects: the person's model (``--run``; the bundled MiniLM stands in for
it without one) and two well-known models, at the length the model reads, one text at a time and batches of 8.

    python bench/benchmark_estimate.py [--selections small,default] [--run RUN_FOLDER] [--busy]

``--busy``: each selection is measured a second time while another program keeps every core busy with matrix
products, as on a machine shared with other work (the estimate must stay of the right order there too).

Results: the "Benchmark time estimate" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.benchmark.plan import (  # noqa: E402
    QUICK,
    BenchmarkPlan,
    comparison_models,
    estimate_benchmark,
    lengths_to_time,
    measured_gflops,
    resolve_threads,
)
from bertstudio.benchmark.runner import run_benchmark  # noqa: E402
from bertstudio.ui.benchmark_tab import COMPARISON_MODELS  # noqa: E402


def selections(run: str | None) -> dict[str, dict]:
    own = (run or "bundled-minilm",)
    return {
        "small": dict(models=("bundled-minilm",), backends=("torch-fp32", "onnx"), batch_sizes=(1, 8),
                      seq_lens=(128,)),
        "default": dict(models=(*own, *comparison_models(own, COMPARISON_MODELS)),
                        backends=("torch-fp32", "torch-bf16", "onnx", "onnx-int8"), batch_sizes=QUICK.batch_sizes,
                        seq_lens=lengths_to_time(QUICK, own) if run else (64,)),
    }


BUSY_PROGRAM = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a @ a\n"


@contextlib.contextmanager
def other_program(busy: bool):
    """A process doing matrix products on every core while the block runs (nothing when not ``busy``)."""
    process = subprocess.Popen([sys.executable, "-c", BUSY_PROGRAM]) if busy else None
    try:
        yield
    finally:
        if process is not None:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selections", default="small,default")
    parser.add_argument("--run", default=None, help="a run folder: the person's model of the default selection")
    parser.add_argument("--busy", action="store_true", help="each selection again while another program keeps the "
                                                            "cores busy")
    args = parser.parse_args()
    rows = ["| selection | cells | estimate | measured | estimate / measured | load average at start -> end |",
            "|---|---:|---:|---:|---:|---|"]
    for name, busy in [(name, busy) for name in args.selections.split(",") for busy in (False, True)[:1 + args.busy]]:
        with tempfile.TemporaryDirectory() as cache, other_program(busy):
            plan = BenchmarkPlan(**selections(args.run)[name], policy=QUICK.policy, busy_retries=QUICK.busy_retries,
                                 cache_dir=Path(cache))
            time.sleep(5 if busy else 0)  # the other program under way
            load_before = os.getloadavg()[0]
            estimate = estimate_benchmark(plan)
            start = time.perf_counter()
            run_benchmark(plan)
            took = time.perf_counter() - start
            load_after = os.getloadavg()[0]
        ratio = estimate.seconds / took
        rows.append(f"| {name}{' (busy machine)' if busy else ''} ({', '.join(plan.models)}; {', '.join(plan.backends)}; batch "
                    f"{'/'.join(map(str, plan.batch_sizes))} x {'/'.join(map(str, plan.seq_lens))} tokens) | "
                    f"{estimate.cells} | {estimate.seconds:.0f} s | {took:.0f} s | {ratio:.2f} | "
                    f"{load_before:.1f} -> {load_after:.1f} |")
        print(rows[-1], flush=True)
    body = "\n".join([machine_line(), f"Matrix-product rate at the start: "
                      f"{measured_gflops(resolve_threads(None)):.0f} GFLOP/s.", "", *rows, "",
                      f"Reproduce: `{command_line()}`"])
    note = ("The estimate scales with the machine's matrix-product rate measured just before, on a product the size "
            "of a BERT feed-forward layer (8 texts of 128 tokens): a busy machine slows it about as much as it slows "
            "a model, where the small products of the contention probe lost 5-8x (the estimate once read 1.7 h for "
            "minutes of work). The busy rows run a program doing matrix products on every core meanwhile.")
    write_section("Benchmark time estimate", body + "\n\n" + note)


if __name__ == "__main__":
    main()
