"""Memory and batch shapes on a CPU: a training loop's resident memory and step time when every batch is padded
to its own longest row, against padding to the few lengths of ``cpu_length_buckets`` (what the engine does on a
CPU).

Why: with bf16 the CPU's kernels keep state for every batch shape they meet. Length-grouped batches of long,
varied texts meet hundreds of shapes: the IMDb run of bench/long_texts.py (15,000 reviews, 256 tokens) grew to
9 GB resident while it trained. Each variant runs in a fresh process: the bundled model, batch 32, bf16 autocast,
AdamW, the engine's own collator, length-grouped batches (texts within 8 tokens of each other) whose length is
uniform over 16..max tokens (as varied as long reviews), the same lengths for both variants. Figures: resident memory after the warm-up steps and at the end,
growth per step, seconds per step and the share of padded tokens. Results go to the section "Memory and batch
shapes on a CPU" of bench/RESULTS.md.

    python bench/cpu_shapes.py [--steps 60] [--max-length 256]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # the engine, also from a clone not pip-installed
from results import command_line, machine_line, write_section  # noqa: E402

TITLE = "Memory and batch shapes on a CPU"
WARM_UP_STEPS = 5
VARIANTS = {"own longest row": False, "cpu_length_buckets": True}


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def one_variant(bucketed: bool, steps: int, max_length: int, seed: int) -> dict:
    """The loop, in this process (run as a child of main)."""
    import torch

    from bertstudio.models.loading import load_model_for_classification
    from bertstudio.models.sources import resolve_model_source
    from bertstudio.train.batch_order import cpu_length_buckets
    from bertstudio.train.batching import PaddingCollator

    torch.manual_seed(seed)
    model = load_model_for_classification(resolve_model_source("bundled-minilm"), num_labels=2,
                                          id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1}).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    collator = PaddingCollator(0, None, True, cpu_length_buckets(max_length) if bucketed else ())
    rng = random.Random(seed)
    memory, seconds, real, padded = [], [], 0, 0
    for step in range(steps):
        # Length-grouped, as the engine's batches are: texts of about one length per batch, that length anywhere.
        longest = rng.randint(16, max_length)
        rows = [{"input_ids": [1000 + rng.randrange(20000) for _ in range(longest if i == 0 else
                                                                          rng.randint(longest - 8, longest))],
                 "label": rng.randrange(2)} for i in range(32)]
        batch = collator(rows)
        real += sum(len(r["input_ids"]) for r in rows)
        padded += batch["input_ids"].numel()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
        memory.append(resident_mb())
    return {"start_mb": memory[WARM_UP_STEPS - 1], "end_mb": memory[-1],
            "per_step_mb": (memory[-1] - memory[WARM_UP_STEPS - 1]) / (steps - WARM_UP_STEPS),
            "step_s": sum(seconds[WARM_UP_STEPS:]) / (steps - WARM_UP_STEPS), "padding": 1 - real / padded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_variant(args.child == "bucketed", args.steps, args.max_length, args.seed)))
        return
    results = {}
    for name, bucketed in VARIANTS.items():
        done = subprocess.run([sys.executable, __file__, "--child", "bucketed" if bucketed else "exact", "--steps",
                               str(args.steps), "--max-length", str(args.max_length), "--seed", str(args.seed)],
                              capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    lines = [machine_line(), f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f}.",
             f"Reproduce: `{command_line()}`", "",
             f"The bundled model, batch 32, bf16, {args.steps} steps of random lengths 16..{args.max_length} "
             f"(the same for both); memory after {WARM_UP_STEPS} warm-up steps and at the end.", "",
             "| padding to | memory after warm-up MB | memory at the end MB | growth MB per step | s per step | "
             "padded tokens |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['start_mb']:.0f} | {r['end_mb']:.0f} | {r['per_step_mb']:.1f} | "
                     f"{r['step_s']:.2f} | {r['padding']:.1%} |")
    exact, bucketed = results["own longest row"], results["cpu_length_buckets"]
    lines += ["", f"Buckets against each batch's own longest row: {bucketed['step_s'] / exact['step_s']:.2f}x the "
                  f"step time, {bucketed['end_mb'] - exact['end_mb']:+.0f} MB at the end."]
    write_section(TITLE, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
