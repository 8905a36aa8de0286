"""The Benchmark tab's time estimate against the benchmark's measured wall time.

For a few selections of the app's benchmark (its repeat policy, a fresh ONNX cache so exports count), the
estimate shown before the run (``benchmark.plan.estimate_benchmark``) and the wall time the run took.  Registry
models not downloaded are timed as their exact architecture with random weights, as the app does.

    python bench/benchmark_estimate.py [--selections small,default]

Results: the "Benchmark time estimate" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.benchmark.plan import BenchmarkPlan, estimate_benchmark, measured_gflops, resolve_threads  # noqa: E402
from bertstudio.benchmark.runner import run_benchmark  # noqa: E402
from bertstudio.ui.benchmark_tab import APP_POLICY  # noqa: E402

SELECTIONS = {
    "small": dict(models=("bundled-minilm",), backends=("torch-fp32", "onnx"), batch_sizes=(1, 8), seq_lens=(128,)),
    "default": dict(models=("bundled-minilm", "distilbert-base-uncased"),
                    backends=("torch-fp32", "torch-bf16", "onnx", "onnx-int8"), batch_sizes=(1, 8),
                    seq_lens=(128,)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selections", default="small,default")
    args = parser.parse_args()
    rows = ["| selection | cells | estimate | measured | estimate / measured | load average at start -> end |",
            "|---|---:|---:|---:|---:|---|"]
    for name in args.selections.split(","):
        with tempfile.TemporaryDirectory() as cache:
            plan = BenchmarkPlan(**SELECTIONS[name], policy=APP_POLICY, cache_dir=Path(cache))
            measured_gflops.cache_clear()
            load_before = os.getloadavg()[0]
            estimate = estimate_benchmark(plan)
            start = time.perf_counter()
            run_benchmark(plan)
            took = time.perf_counter() - start
            load_after = os.getloadavg()[0]
        ratio = estimate.seconds / took
        rows.append(f"| {name} ({', '.join(plan.models)}; {', '.join(plan.backends)}; batch "
                    f"{'/'.join(map(str, plan.batch_sizes))} x {'/'.join(map(str, plan.seq_lens))} tokens) | "
                    f"{estimate.cells} | {estimate.seconds:.0f} s | {took:.0f} s | {ratio:.2f} | "
                    f"{load_before:.1f} -> {load_after:.1f} |")
        print(rows[-1], flush=True)
    body = "\n".join([machine_line(), f"Matrix-product rate at the start: "
                      f"{measured_gflops(resolve_threads(None)):.0f} GFLOP/s.", "", *rows, "",
                      f"Reproduce: `{command_line()}`"])
    note = ("The estimate scales with the machine's matrix-product rate measured just before; on a machine shared "
            "with other work (a load average above the core count) both figures move with the load, so only rows "
            "with a low load say how good the estimate is.")
    write_section("Benchmark time estimate", body + "\n\n" + note)


if __name__ == "__main__":
    main()
