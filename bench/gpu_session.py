"""Issue 22's GPU figures in one short session: what `bench/gpu_session.sh` runs (read that file first).

    python bench/gpu_session.py --out DIR [--budget-s 450] [--tiny --device cpu]

In order of importance, each part skipped (with a line saying so) once the time budget is spent:
1. training throughput, BERT-base (random weights), 128 tokens, bf16, through the engine (``bench/gpu_train.py``'s
   ``engine_run``): batch 32 and the best batch (256), each uncompiled and compiled (``TrainConfig.compile``);
   compiled runs also give the time compiling took (the first step's wait, against the uncompiled run's);
2. the PyTorch profiler's kernel breakdown of a training step (top kernels by GPU time; is a flash or
   memory-efficient attention kernel running?);
3. prediction: ``Predictor.logits`` in-process and the ``bertstudio predict`` command, batch 256, bf16 and fp32;
4. startup: from the ``bertstudio train`` command to its first step in metrics.jsonl, uncompiled and compiled
   (a second compile in a new process reads the compiler's on-disk cache);
5. the accuracy check of the GPU's automatic batch: 3 seeds, batch 32 against the automatic batch (128, learning
   rate scaled), bundled MiniLM on 30,000 SST-2 rows, one epoch (needs ``--accuracy-data`` and ``--accuracy-model``,
   carried by ``bench/gpu_carry.sh``).

Writes DIR/session.json (every figure), DIR/report.md (the text for bench/RESULTS.md) and DIR/kernels.txt.
With ``--tiny --device cpu`` it runs end to end on a 2-layer model, to check the script without a GPU (its figures
mean nothing; GPU-only parts say they were skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gpu_train  # noqa: E402
from results import machine_line  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SEQ = gpu_train.SEQ
TARGET_AT_32 = 2_500  # samples/s, issue 22
TARGET_SHARE_OF_PEAK = 0.5
TARGET_PREDICT = 20_000  # texts/s, bertstudio predict at batch 256


class Session:
    """The figures so far, saved after every part (a session cut off keeps what it measured)."""

    def __init__(self, out: Path, budget_s: float):
        self.out, self.budget_s, self.started = out, budget_s, time.perf_counter()
        self.res: dict = {"machine": machine_line(), "parts": {}, "skipped": []}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def part(self, name: str, needs_s: float, run) -> None:
        if self.left() < needs_s:
            self.skip(name, f"{self.left():.0f} s of the budget left, it needs about {needs_s:.0f} s")
            return
        began = time.perf_counter()
        print(f"--- {name} ({self.left():.0f} s left)", flush=True)
        try:
            self.res["parts"][name] = run()
        except Exception as exc:  # noqa: BLE001 - one part failing must not lose the others' figures
            import traceback

            self.res["parts"][name] = {"error": f"{type(exc).__name__}: {exc}"[:1500],
                                       "traceback": traceback.format_exc()[-3000:]}
            print(self.res["parts"][name]["traceback"], flush=True)
        self.res["parts"][name + "_seconds"] = round(time.perf_counter() - began, 1)
        self.save()

    def skip(self, name: str, why: str) -> None:
        print(f"--- {name}: skipped ({why})", flush=True)
        self.res["skipped"].append(f"{name}: {why}")
        self.save()

    def save(self) -> None:
        (self.out / "session.json").write_text(json.dumps(self.res, indent=1, default=str))


# --- 1. training throughput ------------------------------------------------------------------------------------


def training(work: Path, model_dir: Path, tokenizer_dir: Path, device: str, batches: list[int], steps: int,
             compile_modes: list[str]) -> dict:
    rows = []
    for batch in batches:
        data = work / f"texts-{batch}.csv"
        gpu_train.write_texts(data, tokenizer_dir, rows=gpu_train.rows_for(batch, steps))
        for setting in compile_modes:
            row = gpu_train.engine_run(data, model_dir, device, batch, steps, work / f"run-{batch}-{setting}",
                                       compile=setting)
            row["compile"] = setting
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("batch", "compile", "samples_per_second", "first_step_seconds")}),
                  flush=True)
    return {"rows": rows}


# --- 2. kernel breakdown ---------------------------------------------------------------------------------------


def kernel_breakdown(model_dir: Path, device: str, batch: int, out: Path, top: int = 20) -> dict:
    """Top kernels of a bare training step (the engine's model class and attention choice, bf16, fused AdamW)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bertstudio.hardware import detect_device
    from bertstudio.models.loading import load_model_for_classification
    from bertstudio.train.pipeline import attention_kernel

    model = load_model_for_classification(str(model_dir), num_labels=2, id2label={0: "a", 1: "b"},
                                          label2id={"a": 0, "b": 1},
                                          attn_implementation=attention_kernel(detect_device(device)))
    model = model.to(device).train()
    step = gpu_train.bare_step(model, device, batch)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(5):
            step()
        gpu_train.synchronize(device)
    events = prof.key_averages()

    def device_time(evt) -> float:
        return float(getattr(evt, "device_time_total", 0) or getattr(evt, "cuda_time_total", 0) or 0)

    if device == "cuda":
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        timed = sorted(kernels, key=device_time, reverse=True)
        total = sum(device_time(e) for e in kernels) or 1.0
        table = [{"kernel": e.key[:160], "calls": e.count, "ms_per_step": device_time(e) / 5 / 1e3,
                  "share": device_time(e) / total} for e in timed[:top]]
        names = [e.key for e in kernels]
    else:  # the dry run: CPU operators, to check the code path
        timed = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events) or 1.0
        table = [{"kernel": e.key[:160], "calls": e.count, "ms_per_step": e.self_cpu_time_total / 5 / 1e3,
                  "share": e.self_cpu_time_total / total} for e in timed[:top]]
        names = [e.key for e in events]
    attention = sorted({n[:120] for n in names if any(w in n.lower() for w in (
        "flash", "fmha", "efficient_attention", "scaled_dot_product", "attention"))})
    (out / "kernels.txt").write_text(prof.key_averages().table(
        sort_by="cuda_time_total" if device == "cuda" else "self_cpu_time_total", row_limit=40))
    return {"batch": batch, "attn_implementation": model.config._attn_implementation, "device": device,
            "attention_kernels": attention, "flash_or_efficient": any(
                w in n.lower() for n in attention for w in ("flash", "fmha", "efficient")),
            "top": table, "step_ms": total / 5 / 1e3}


# --- 3. prediction -------------------------------------------------------------------------------------------------


def prediction(run_dir: Path, texts_csv: Path, batch: int, backends: list[str], work: Path) -> dict:
    import pandas as pd

    from bertstudio.predict.predictor import load_predictor

    texts = pd.read_csv(texts_csv)["text"].astype(str).tolist()
    rows = {"texts": len(texts), "batch": batch, "backends": {}}
    for backend in backends:
        predictor = load_predictor(run_dir, backend=backend, batch_size=batch)
        predictor.logits(texts[:batch * 2])  # warm-up: kernel selection, the allocator
        started = time.perf_counter()
        predictor.logits(texts)
        in_process = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        predictor.tokenizer(texts, truncation=True, max_length=SEQ)
        tokenizing = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bertstudio", "predict", str(run_dir), "--data", str(texts_csv),
                               "--out", str(work / f"predictions-{backend}.csv"), "--batch-size", str(batch),
                               "--backend", backend], capture_output=True, text=True, timeout=300)
        command = time.perf_counter() - started
        rows["backends"][backend] = {
            "device": getattr(predictor.backend, "device", "cpu"), "in_process_texts_per_second": in_process,
            "tokenizing_alone_texts_per_second": tokenizing, "command_seconds": command,
            "command_texts_per_second": len(texts) / command, "command_ok": done.returncode == 0,
            "command_error": "" if done.returncode == 0 else (done.stderr or done.stdout)[-800:]}
        print(json.dumps({backend: rows["backends"][backend]}), flush=True)
    return rows


# --- 4. startup ------------------------------------------------------------------------------------------------


def first_step_after_command(data: Path, model_dir: Path, device: str, batch: int, out_dir: Path, setting: str,
                             timeout: float) -> dict:
    """Seconds from starting ``bertstudio train`` to its first step in metrics.jsonl; the process is then ended."""
    cmd = [sys.executable, "-m", "bertstudio", "train", str(data), "--model", str(model_dir), "--device", device,
           "--precision", "bf16", "--max-length", str(SEQ), "--batch-size", str(batch), "--max-steps", "60",
           "--freeze-layers", "0", "--simple-model", "no", "--report-to", "none", "--compile", setting,
           "--out", str(out_dir), "--quiet"]
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = out_dir / "metrics.jsonl"
    found = None
    while time.perf_counter() - started < timeout and process.poll() is None:
        if metrics.is_file() and '"event": "step"' in metrics.read_text(encoding="utf-8"):
            found = time.perf_counter() - started
            break
        time.sleep(0.05)
    if found is None and metrics.is_file() and '"event": "step"' in metrics.read_text(encoding="utf-8"):
        found = time.perf_counter() - started  # finished between two looks
    output = ""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    else:
        output = (process.stdout.read() if process.stdout else "")[-1500:]
    return {"compile": setting, "batch": batch, "seconds_to_first_step": found,
            "error": output if found is None else ""}


def startup(work: Path, model_dir: Path, tokenizer_dir: Path, device: str, settings: list[str]) -> dict:
    data = work / "texts-startup.csv"
    gpu_train.write_texts(data, tokenizer_dir, rows=2_000 if device == "cpu" else 16_000)  # the 16,000
    return {"rows": [first_step_after_command(data, model_dir, device, 32, work / f"startup-{s}", s, timeout=240)
                     for s in settings]}


# --- 5. accuracy of the automatic GPU batch ---------------------------------------------------------------------


def accuracy(data: Path, model: Path, device: str, work: Path, seeds: int, rows: int) -> dict:
    """Test accuracy and macro-F1, batch 32 against the automatic batch (learning rate scaled), per seed."""
    import pandas as pd

    from bertstudio.config import TrainConfig
    from bertstudio.train.pipeline import load_inputs, run_training

    subset = work / "accuracy.csv"
    pd.read_csv(data).sample(n=rows, random_state=0).to_csv(subset, index=False)
    results = []
    for seed in range(seeds):
        for batch in (32, None):
            cfg = TrainConfig(data=str(subset), model=str(model), device=device, epochs=1, seed=seed,
                              batch_size=batch, simple_model=False, report_to="none",
                              output_dir=str(work / f"accuracy-{seed}-{batch or 'auto'}"))
            inputs = load_inputs(cfg)
            started = time.perf_counter()
            summary = run_training(inputs)
            row = {"seed": seed, "batch": inputs.config.batch_size, "lr": inputs.config.lr,
                   "compile": inputs.config.compile, "accuracy": summary["accuracy"],
                   "macro_f1": summary["macro_f1"], "seconds": time.perf_counter() - started}
            results.append(row)
            print(json.dumps(row), flush=True)
    return {"rows": results, "train_rows_given": rows}


# --- report ------------------------------------------------------------------------------------------------------


def report(res: dict) -> str:
    parts = res["parts"]
    lines = [res["machine"], "", "Command: `bash bench/gpu_session.sh` (bench/gpu_session.py; figures in "
             "session.json). BERT-base architecture, random weights (speed only), every text 128 tokens, bf16.", ""]
    peak, per_sample = res.get("matmul_peak"), res.get("flops_per_sample")
    if peak:
        lines += [f"Measured bf16 matrix product: {peak / 1e12:.0f} TFLOP/s; {per_sample / 1e9:.1f} GFLOP per "
                  f"training sample.", ""]
    train = parts.get("training", {})
    if train.get("rows"):
        lines += ["| batch | compile | samples/s | share of measured peak | first step after (s) |",
                  "|---:|---|---:|---:|---:|"]
        for row in train["rows"]:
            share = row["samples_per_second"] * per_sample / peak if peak else float("nan")
            lines.append(f"| {row['batch']} | {row['compile']} | {row['samples_per_second']:,.0f} | {share:.0%} | "
                         f"{row['first_step_seconds'] or float('nan'):.1f} |")
        by = {(r["batch"], r["compile"]): r for r in train["rows"]}
        best = max(train["rows"], key=lambda r: r["samples_per_second"])
        at_32 = max((r["samples_per_second"] for r in train["rows"] if r["batch"] == 32), default=0)
        lines += ["", f"Batch 32: {at_32:,.0f} samples/s (target {TARGET_AT_32:,}: "
                      f"{'met' if at_32 >= TARGET_AT_32 else 'not met'}). Best: {best['samples_per_second']:,.0f} "
                      f"at batch {best['batch']}, compile {best['compile']}"
                  + (f", {best['samples_per_second'] * per_sample / peak:.0%} of the measured peak (target "
                     f"{TARGET_SHARE_OF_PEAK:.0%})." if peak else ".")]
        for batch in sorted({r["batch"] for r in train["rows"]}):
            off, on = by.get((batch, "off")), by.get((batch, "on"))
            if off and on and on["samples_per_second"] > off["samples_per_second"]:
                saved = batch / off["samples_per_second"] - batch / on["samples_per_second"]  # s per step
                wait = (on["first_step_seconds"] or 0) - (off["first_step_seconds"] or 0)
                lines.append(f"Compiling at batch {batch}: {wait:.0f} s more before the first step, "
                             f"{saved * 1e3:.1f} ms less per step: pays back after {wait / saved:,.0f} steps.")
    kernels = parts.get("kernels", {})
    if kernels.get("top"):
        lines += ["", f"Kernel breakdown (torch.profiler, bare step, batch {kernels['batch']}, attention "
                      f"{kernels['attn_implementation']}; {kernels['step_ms']:.1f} ms of kernels per step); "
                      f"flash/memory-efficient attention kernel running: {kernels['flash_or_efficient']} "
                      f"({', '.join(kernels['attention_kernels'][:4]) or 'none found'}).", "",
                  "| kernel | calls (5 steps) | ms per step | share |", "|---|---:|---:|---:|"]
        lines += [f"| `{k['kernel'][:90]}` | {k['calls']} | {k['ms_per_step']:.2f} | {k['share']:.0%} |"
                  for k in kernels["top"][:12]]
    predict = parts.get("prediction", {})
    for name, row in predict.get("backends", {}).items():
        lines += ["", f"Prediction, {name} on {row['device']}, batch {predict['batch']}, {predict['texts']:,} texts: "
                      f"{row['in_process_texts_per_second']:,.0f} texts/s in-process (tokenizing alone "
                      f"{row['tokenizing_alone_texts_per_second']:,.0f}/s); `bertstudio predict` "
                      f"{row['command_texts_per_second']:,.0f} texts/s over {row['command_seconds']:.1f} s including "
                      f"its start (target {TARGET_PREDICT:,})" + ("" if row["command_ok"] else " FAILED")]
    for row in parts.get("startup", {}).get("rows", []):
        lines += ["", f"Startup, `bertstudio train` (batch 32, compile {row['compile']}): first step "
                      f"after {row['seconds_to_first_step'] or float('nan'):.1f} s."]
    acc = parts.get("accuracy", {})
    if acc.get("rows"):
        lines += ["", "Accuracy of the automatic GPU batch (bundled MiniLM, SST-2 rows, one epoch; test accuracy):", "",
                  "| seed | batch | lr | accuracy | macro-F1 | seconds |", "|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['seed']} | {r['batch']} | {r['lr']:g} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
                  f"{r['seconds']:.0f} |" for r in acc["rows"]]
    if res["skipped"]:
        lines += ["", "Skipped: " + "; ".join(res["skipped"])]
    errors = [f"{k}: {v['error'][:300]}" for k, v in parts.items() if isinstance(v, dict) and "error" in v]
    if errors:
        lines += ["", "Errors: " + " / ".join(errors)]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-s", type=float, default=450.0, help="Parts that would end after this are skipped.")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--tiny", action="store_true", help="A 2-layer model and a few steps: checks the script.")
    p.add_argument("--tokenizer", type=Path, default=None, help="A bert-base-uncased vocabulary folder (default: "
                   "the bundled model's).")
    p.add_argument("--accuracy-data", type=Path, default=None, help="A CSV with text and label columns (SST-2).")
    p.add_argument("--accuracy-model", type=Path, default=None, help="A model folder (the bundled MiniLM).")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    session = Session(args.out, args.budget_s)
    device, tiny = args.device, args.tiny
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("No CUDA device here: run with --tiny --device cpu to check the script.", flush=True)
            return 2
    work = Path(tempfile.mkdtemp(prefix="gpu_session_"))
    tokenizer_dir = args.tokenizer or gpu_train.default_tokenizer_dir()
    model_dir = gpu_train.make_model_folder(work / "bert-base-random", tokenizer_dir, tiny)
    from transformers import AutoConfig

    session.res["matmul_peak"] = gpu_train.matmul_peak(device, 1024 if tiny else 8192)
    session.res["flops_per_sample"] = gpu_train.flops_per_sample(AutoConfig.from_pretrained(model_dir))
    steps = 20 if tiny else 120
    if tiny:  # the dry run checks the wiring; inductor on a busy 2-core CPU took 228 s for the tiny model
        from bertstudio.train.speedups import compile as compile_module

        compile_module.BACKEND = "eager"
    batches = [4, 8] if tiny else [32, 256]
    # A compiled run: compiling BERT-base takes tens of seconds (more on a cold cache), the runs themselves seconds.
    session.part("training", 40 if tiny else 200,
                 lambda: training(work, model_dir, tokenizer_dir, device, batches, steps, ["off", "on"]))
    session.part("kernels", 10 if tiny else 20,
                 lambda: kernel_breakdown(model_dir, device, batches[0], args.out))
    run_dir = work / f"run-{batches[-1]}-off"
    texts = work / "texts-predict.csv"
    gpu_train.write_texts(texts, tokenizer_dir, rows=300 if tiny else 40_000)
    if (run_dir / "summary.json").is_file():
        session.part("prediction", 20 if tiny else 60, lambda: prediction(
            run_dir, texts, 256, ["torch-bf16", "torch"], work))
    else:
        session.skip("prediction", "no finished training run to predict with")
    # The dry run starts the command uncompiled only (a new process would compile with inductor, see above).
    session.part("startup", 30 if tiny else 120,
                 lambda: startup(work, model_dir, tokenizer_dir, device, ["off"] if tiny else ["off", "on"]))
    if device != "cuda":
        session.skip("accuracy", "needs a GPU (the automatic batch of 128 is a GPU setting)")
    elif not (args.accuracy_data and args.accuracy_model and args.accuracy_data.is_file()):
        session.skip("accuracy", "no --accuracy-data/--accuracy-model (bench/gpu_carry.sh carries them)")
    else:
        session.part("accuracy", 90, lambda: accuracy(args.accuracy_data, args.accuracy_model, device, work,
                                                       seeds=3, rows=30_000))
    text = report(session.res)
    (args.out / "report.md").write_text(text + "\n")
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
