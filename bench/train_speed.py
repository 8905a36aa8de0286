"""Training speed: our engine against the usual Hugging Face Trainer recipes, in one run.

Same model (the bundled MiniLM), same data (a fixed 8,000-row sample of SST-2 train,
evaluated on SST-2 dev in file order), same epochs, batch size and learning rate:

1. reference: Trainer, texts padded to 128, fp32, batch 16, lr 2e-5, weight decay 0.01, 3 epochs;
2. strong Trainer: dynamic padding, length-grouped sampling, bf16, warm-up, fused AdamW;
3. ours: the bertstudio engine with its defaults (batch 16, lr 2e-5, 3 epochs as above).

Each configuration runs in its own process (clean peak-memory figure). The script
also measures the bf16 and fp32 matrix-product peaks and our achieved FLOP/s on
full batches of 128-token texts. Results go to bench/RESULTS.md.

    python bench/train_speed.py [--data-dir ../shared/data] [--only ours,strong] [--rows 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the engine, also from a clone not pip-installed
from results import command_line, machine_line, write_section  # noqa: E402

from bertstudio.train.speedups.flops import training_flops  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EPOCHS, BATCH, LR = 3, 16, 2e-5
CONFIGS = ("reference", "strong", "ours")


# --- shared pieces -------------------------------------------------------------------------------------


def sample_index(data_dir: Path, rows: int):
    """Row labels of the fixed training sample (seed 0) in SST-2 train."""
    import pandas as pd

    return pd.read_csv(data_dir / "sst2" / "train.csv").sample(n=rows, random_state=0).index


def load_sample(data_dir: Path, rows: int):
    import pandas as pd

    train = pd.read_csv(data_dir / "sst2" / "train.csv").loc[sample_index(data_dir, rows)].reset_index(drop=True)
    dev = pd.read_csv(data_dir / "sst2" / "dev.csv")
    labels = sorted(train["label"].unique())
    to_id = {name: i for i, name in enumerate(labels)}
    return train, dev, labels, to_id


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def accuracy_in_file_order(model, tokenizer, texts, labels) -> float:
    """Evaluated the same way for every configuration: plain batches in file order, fp32."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            enc = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
            pred = model(**enc).logits.argmax(-1)
            correct += int((pred == torch.tensor(labels[start:start + 64])).sum())
    return correct / len(texts)


# --- workers (one per process) ---------------------------------------------------------------------------


def run_trainer(data_dir: Path, rows: int, strong: bool, seed_offset: int = 0) -> dict:
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from bertstudio.models.bundled import bundled_model_path

    train, dev, labels, to_id = load_sample(data_dir, rows)
    path = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    padding = False if strong else "max_length"
    ds = datasets.Dataset.from_dict({"text": train["text"].tolist(), "label": [to_id[x] for x in train["label"]]})
    ds = ds.map(lambda b: tokenizer(b["text"], truncation=True, max_length=128, padding=padding), batched=True,
                remove_columns=["text"])
    real_tokens = sum(sum(m) for m in ds["attention_mask"]) * EPOCHS
    extra = dict(bf16=True, warmup_steps=0.1, train_sampling_strategy="group_by_length")  # < 1: a ratio if strong else {}
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=BATCH, learning_rate=LR,
                             weight_decay=0.01, num_train_epochs=EPOCHS, eval_strategy="no", save_strategy="no",
                             report_to=[], logging_steps=10_000, use_cpu=True, disable_tqdm=True, seed=42 + seed_offset,
                             **extra)
    trainer = Trainer(model=model, args=args, train_dataset=ds,
                      data_collator=DataCollatorWithPadding(tokenizer) if strong else None)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    acc = accuracy_in_file_order(model, tokenizer, dev["text"].tolist(), [to_id[x] for x in dev["label"]])
    return {"seconds": seconds, "samples": rows * EPOCHS, "real_tokens": real_tokens, "accuracy": acc,
            "peak_rss_mb": peak_rss_mb()}


def engine_files(data_dir: Path, rows: int):
    """A folder with the training sample (train.csv) and our engine's validation file (val.csv); and dev.

    Our engine keeps its best checkpoint by a validation set; that must not be dev (the score), so it is
    872 other rows of SST-2 train, outside the 8,000-row sample every configuration trains on.
    """
    import pandas as pd

    train, dev, _, _ = load_sample(data_dir, rows)
    tmp = Path(tempfile.mkdtemp())
    train.to_csv(tmp / "train.csv", index=False)
    rest = pd.read_csv(data_dir / "sst2" / "train.csv").drop(index=sample_index(data_dir, rows))
    rest.sample(n=len(dev), random_state=1).to_csv(tmp / "val.csv", index=False)
    return tmp, dev


def run_ours(data_dir: Path, rows: int, seed_offset: int = 0, pooling: str | None = None) -> dict:
    """Our engine with its defaults; ``pooling``: that one instead of the engine's choice for the model."""
    from bertstudio.config import TrainConfig, config_from_preset
    from bertstudio.train.pipeline import load_inputs, run_training

    tmp, dev = engine_files(data_dir, rows)
    cfg = config_from_preset(data=str(tmp / "train.csv"), test_file=str(data_dir / "sst2" / "dev.csv"),
                             val_file=str(tmp / "val.csv"), epochs=EPOCHS, batch_size=BATCH, lr=LR,
                             output_dir=str(tmp / "run"), seed=TrainConfig().seed + seed_offset, pooling=pooling)
    inputs = load_inputs(cfg)
    summary = run_training(inputs)
    from transformers import AutoTokenizer

    from bertstudio.predict.backends import load_classifier

    model_dir = tmp / "run" / "model"
    # As the engine loads it: a mean-pooled model (the bundled one's default) opened with the plain
    # AutoModelForSequenceClassification falls back to BERT's [CLS]-and-pooler head and predicts other labels.
    model = load_classifier(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    names = summary["label_names"]
    acc = accuracy_in_file_order(model, tokenizer, dev["text"].tolist(), [names.index(x) for x in dev["label"]])
    real_tokens = summary["tokens_per_second"] * summary["train_seconds"]
    samples = summary["samples_per_second"] * summary["train_seconds"]
    settings = {k: inputs.config.to_json_dict()[k] for k in (
        "max_length", "head_lr", "freeze_embeddings", "freeze_layers", "attention_dropout", "precision",
        "length_grouping", "pooling")}
    return {"seconds": summary["train_seconds"], "samples": samples, "real_tokens": real_tokens, "accuracy": acc,
            "peak_rss_mb": peak_rss_mb(), "flops": training_flops(model.config, round(real_tokens), round(samples),
                                                               frozen_layers=inputs.config.freeze_layers),
            "settings": settings}


def epoch_seconds(events) -> list[float]:
    """Wall time of each epoch, from the engine's own step events (the first includes the feature pass)."""
    from bertstudio.events import Step

    ends, last_epoch = [], 0
    for event in events:
        if isinstance(event, Step) and int(event.epoch + 1e-9) > last_epoch:
            last_epoch = int(event.epoch + 1e-9)
            ends.append(event.elapsed)
    return [b - a for a, b in zip([0.0, *ends], ends)]


def run_head_only(data_dir: Path, rows: int) -> dict:
    """The head-only preset: epoch 1 pays for the encoder once, later epochs only train the head."""
    from bertstudio.config import config_from_preset
    from bertstudio.train.pipeline import load_inputs, run_training

    tmp, _ = engine_files(data_dir, rows)
    dev = str(data_dir / "sst2" / "dev.csv")
    cfg = config_from_preset("head-only", data=str(tmp / "train.csv"), val_file=str(tmp / "val.csv"), test_file=dev,
                             epochs=EPOCHS,
                             batch_size=BATCH, early_stopping_patience=0, output_dir=str(tmp / "run"))
    events = []
    summary = run_training(load_inputs(cfg), emit=events.append)
    return {"epoch_seconds": epoch_seconds(events), "accuracy": summary["accuracy"]}


@dataclass
class EngineStep:
    """Our engine's CPU training step on a fixed batch, in its two halves (and whole, when called)."""

    forward_backward: Callable[[], None]
    update: Callable[[], None]  # clip (into the fused AdamW's gradient scale) and AdamW
    model: Any
    frozen_layers: int
    use_length: Callable[[int], None]  # later steps on texts of this many tokens (same model and optimizer)

    def __call__(self) -> None:
        self.forward_backward()
        self.update()


def engine_step(model_source, batch: int, seq: int = 128, forward: Callable | None = None,
                pooling: str | None = None) -> EngineStep:
    """Our engine's CPU training step (its defaults: frozen word embeddings and bottom sixth of the layers, no
    attention dropout, cheap dropout masks, freed memory kept, eager attention, bf16 autocast, fused AdamW) on
    ``batch`` texts of ``seq`` tokens; ``forward``: the engine's plain one unless given (a compiled one);
    ``pooling``: the engine's choice for the model unless given."""
    import torch
    from accelerate import Accelerator

    from bertstudio.config import TrainConfig
    from bertstudio.hardware import detect_device
    from bertstudio.models.loading import load_model_for_classification
    from bertstudio.train.auto import ModelShape, choose_freeze_layers, choose_pooling
    from bertstudio.train.feeds import full_forward
    from bertstudio.train.loop import accumulate_gradients, clipped_step
    from bertstudio.train.model_setup import make_optimizer, prepare_model
    from bertstudio.train.pipeline import attention_kernel, model_shape

    cfg = TrainConfig(lr=2e-5, head_lr=2e-4, freeze_embeddings=True, attention_dropout=0.0)
    # The pooling the engine picks for this model (mean for the bundled one): it decides whether the last layer
    # may compute [CLS] alone, ~14% of the bundled model's step.
    pooling = pooling or choose_pooling(model_shape(model_source)).value
    model = load_model_for_classification(model_source, num_labels=2, id2label={0: "a", 1: "b"},
                                          label2id={"a": 0, "b": 1}, attention_dropout=cfg.attention_dropout,
                                          attn_implementation=attention_kernel(detect_device("cpu")),
                                          pooling=pooling)
    cfg = cfg.model_copy(update={"freeze_layers": choose_freeze_layers(ModelShape.of(model.config).layers).value})
    prepare_model(model, cfg, "cpu")
    accelerator = Accelerator(cpu=True, mixed_precision="bf16")
    optimizer = make_optimizer(model, cfg, "cpu")
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    batch_data: dict = {}

    def use_length(tokens: int) -> None:
        ids = torch.randint(1000, 29000, (batch, tokens))
        batch_data.update(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.randint(0, 2, (batch,)))

    def forward_backward() -> None:
        with accelerator.autocast():
            accumulate_gradients(model, dict(batch_data), forward or full_forward, None, accelerator, 1)

    def update() -> None:
        clipped_step(model, optimizer, accelerator, cfg.max_grad_norm)
        optimizer.zero_grad(set_to_none=True)

    use_length(seq)
    return EngineStep(forward_backward, update, accelerator.unwrap_model(model), cfg.freeze_layers, use_length)


def bundled_source():
    """The bundled model, as the engine names its source."""
    from bertstudio.models.bundled import bundled_model_path
    from bertstudio.models.sources import resolve_model_source

    return resolve_model_source(str(bundled_model_path()))


def median_seconds(fn: Callable[[], None], steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


# Where a training step's CPU time goes, by kind of operator (torch profiler's self time).
OP_KINDS = {"matrix products": ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm"),
            "dropout masks": ("aten::bernoulli_", "aten::randint", "aten::random_"),
            "dtype casts": ("aten::copy_", "aten::_to_copy"),
            "optimizer": ("aten::_fused_adamw_",)}


def step_profile(one_step, steps: int = 3) -> dict:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            one_step()
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_us.values())
    shares = {kind: sum(self_us.get(op, 0) for op in ops) / total for kind, ops in OP_KINDS.items()}
    shares["everything else (elementwise, norms, softmax, host)"] = 1 - sum(shares.values())
    return shares


def run_full_batches(data_dir: Path, steps: int = 12, batch: int = 32) -> dict:
    """Our training step on batches where every text fills all 128 tokens: the compute-bound case."""
    step = engine_step(bundled_source(), batch)
    per_step = median_seconds(step, steps)
    flops = training_flops(step.model.config, batch * 128, batch, frozen_layers=step.frozen_layers, seq_len=128)
    return {"seconds_per_step": per_step, "flops_per_second": flops / per_step, "batch": batch,
            "profile": step_profile(step)}


SHORT_TOKENS, FLOOR_TOKENS = 14, 4  # SST-2's average text with [CLS]/[SEP]; nearly no text at all


def run_short_steps(data_dir: Path, steps: int = 30, batch: int = BATCH) -> dict:
    """Where a short-text step's time goes: forward+backward against the update (clip + AdamW), the same
    step on almost empty texts (what a step costs whatever the text), and page faults per step."""
    source = bundled_source()
    step = engine_step(source, batch, SHORT_TOKENS)
    whole = median_seconds(step, steps)
    forward_backward = median_seconds(lambda: (step.forward_backward(), step.model.zero_grad(set_to_none=True)),
                                      steps)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 10
    floor = median_seconds(engine_step(source, batch, FLOOR_TOKENS), steps)
    return {"batch": batch, "tokens": SHORT_TOKENS, "step_s": whole, "forward_backward_s": forward_backward,
            "update_s": whole - forward_backward, "floor_tokens": FLOOR_TOKENS, "floor_s": floor,
            "page_faults_per_step": faults}


def run_bert_base_memory(data_dir: Path, steps: int = 3, batch: int = 32) -> dict:
    """Peak memory of our training step on BERT-base (its exact architecture, random weights) at 128 tokens."""
    from transformers import BertConfig, BertForSequenceClassification

    from bertstudio.models.sources import ModelSource

    folder = Path(tempfile.mkdtemp(prefix="bert-base-arch-"))
    # BertConfig's defaults are bert-base-uncased's architecture.
    BertForSequenceClassification(BertConfig(num_labels=2)).save_pretrained(folder)
    one_step = engine_step(ModelSource("local", str(folder), None, "BERT-base (random weights)"), batch)
    for _ in range(steps):
        one_step()
    return {"peak_rss_mb": peak_rss_mb(), "batch": batch}


def matmul_peak(dtype_name: str, size: int = 2048, repeats: int = 10) -> float:
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def worker(name: str, data_dir: Path, rows: int, seed_offset: int = 0) -> dict:
    if name == "reference":
        return run_trainer(data_dir, rows, strong=False, seed_offset=seed_offset)
    if name == "strong":
        return run_trainer(data_dir, rows, strong=True, seed_offset=seed_offset)
    if name == "ours":
        return run_ours(data_dir, rows, seed_offset)
    if name == "ours-cls":
        return run_ours(data_dir, rows, seed_offset, pooling="cls")
    if name == "headonly":
        return run_head_only(data_dir, rows)
    if name == "full128":
        return run_full_batches(data_dir)
    if name == "short":
        return run_short_steps(data_dir)
    if name == "bertbase_memory":
        return run_bert_base_memory(data_dir)
    if name == "peaks":
        return {"bf16": matmul_peak("bfloat16"), "fp32": matmul_peak("float32")}
    raise SystemExit(f"unknown worker {name}")


# --- orchestration ----------------------------------------------------------------------------------------


def run_worker(name: str, data_dir: Path, rows: int, seed_offset: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--data-dir", str(data_dir), "--rows", str(rows),
           "--seed-offset", str(seed_offset)]
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def short_step_text(short: dict) -> str:
    ms = {k: 1000 * short[k] for k in ("step_s", "forward_backward_s", "update_s", "floor_s")}
    return (f"Short texts ({short['batch']} texts of {short['tokens']} tokens, SST-2's average; our training step): "
            f"{ms['step_s']:.0f} ms per step = forward and backward {ms['forward_backward_s']:.0f} ms + gradient "
            f"clipping and AdamW {ms['update_s']:.0f} ms. The same step on {short['floor_tokens']}-token texts takes "
            f"{ms['floor_s']:.0f} ms: that much of a step is paid whatever the texts (weights cast to bf16 and "
            f"back, weight gradients, optimizer), the rest grows with the tokens. Page faults per step: "
            f"{short['page_faults_per_step']:.0f} (glibc's defaults: ~13,800, 30 ms of kernel time; see "
            f"bertstudio/allocator.py).")


def report(results: dict, peaks: dict, full: dict, head: dict, rows: int) -> str:
    lines = ["| configuration | wall time (s) | samples/s | real tokens/s | dev accuracy | peak memory (MB) |",
             "|---|---|---|---|---|---|"]
    names = {"reference": "1. Trainer reference (pad 128, fp32)", "strong": "2. Trainer strongest (dynamic pad, "
             "length groups, bf16, fused AdamW)", "ours": "3. bertstudio defaults",
             "ours-cls": "4. bertstudio defaults but [CLS] pooling"}
    for key, r in results.items():
        lines.append(f"| {names[key]} | {r['seconds']:.0f} | {r['samples'] / r['seconds']:.1f} | "
                     f"{r['real_tokens'] / r['seconds']:,.0f} | {r['accuracy']:.4f} | {r['peak_rss_mb']:,.0f} |")
    out = "\n".join(lines)
    if "ours" in results:
        ours = results["ours"]
        flops = ours["flops"] / ours["seconds"]
        out += (f"\n\nOur achieved model FLOP/s on this SST-2 sample (the matrix work actually done, "
                f"bertstudio/flops.py: 6 FLOPs per weight and real token, 2 in the frozen bottom layers, which run "
                f"forward only, less what a [CLS]-only last layer skips in a model that reads [CLS]): "
                f"{flops / 1e9:.1f} GFLOP/s = {flops / peaks['bf16']:.0%} of the bf16 and "
                f"{flops / peaks['fp32']:.0%} of the fp32 matrix-product peak (short texts: mostly per-step work).")
        for key in ("reference", "strong"):
            if key in results:
                out += (f"\n\nSpeed-up of ours over {key}: {results[key]['seconds'] / ours['seconds']:.1f}x; "
                        f"accuracy difference {100 * (ours['accuracy'] - results[key]['accuracy']):+.2f} points.")
        if "settings" in ours:
            out += f"\n\nOur settings (automatic except batch, lr, epochs): `{json.dumps(ours['settings'])}`"
    out += (f"\n\nMatrix-product peak measured in this run (2048^3): bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s, "
            f"fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s.\n\nFull batches of 128-token texts (batch {full['batch']}, "
            f"our training step, bf16): {full['seconds_per_step'] * 1000:.0f} ms per step, "
            f"{full['flops_per_second'] / 1e9:.0f} GFLOP/s = {full['flops_per_second'] / peaks['bf16']:.0%} of the "
            f"bf16 peak. Where that step's CPU time goes (torch profiler, self time): "
            + ", ".join(f"{kind} {share:.0%}" for kind, share in full["profile"].items()) + ".")
    if "short" in full:
        out += "\n\n" + short_step_text(full["short"])
    out += (f"\n\nPeak memory (resident set) of our training step on BERT-base (its architecture with random "
            f"weights, batch 32 x 128 tokens, bf16): {full['bert_base_peak_rss_mb']:,.0f} MB (target: at most "
            f"6,000 MB; the bundled model's full run above: {results.get('ours', {}).get('peak_rss_mb', 0):,.0f} MB, "
            f"target 3,000 MB).")
    if head and "ours" in results:
        full_epoch = results["ours"]["seconds"] / EPOCHS
        later = head["epoch_seconds"][1:]
        out += (f"\n\nHead-only preset (encoder fixed, its output computed once): epoch times "
                f"{', '.join(f'{t:.1f} s' for t in head['epoch_seconds'])}; every epoch after the first is "
                f"{full_epoch / max(later):.0f}x faster than a full fine-tuning epoch ({full_epoch:.0f} s); "
                f"dev accuracy {head['accuracy']:.4f}.")
    return f"{machine_line()}\n\nData: {rows:,}-row fixed sample (seed 0) of SST-2 train, 3 epochs, batch {BATCH}, " \
           f"lr {LR:g}; accuracy on SST-2 dev (872 rows) in file order. Our engine picks its best checkpoint on 872 other " \
           f"rows of SST-2 train (never on dev); the Trainer configurations keep their last model. " \
           f"Reproduce: `{command_line()}`.\n\n" + out


SEEDED = ("reference", "strong", "ours", "ours-cls")  # the accuracy target compares ours with the better Trainer


def further_seeds(args, saved: Path, reuse: set[str], measured: set[str]) -> dict[str, list[dict]]:
    """Seeds 1..N-1 of each configuration in this run (seed 0 is the main table's run); saved like the others,
    and a reused configuration's saved seeds are read instead. Seed by seed, each configuration in turn: this machine's speed drifts by 10-20% over tens of
    minutes, and interleaving spreads the drift over the configurations instead of charging it to the last."""
    runs: dict[str, list[dict]] = {}
    for offset in range(1, args.seeds):
        for name in (n for n in SEEDED if n in measured):
            file = saved / f"train_speed-{name}-seed{offset}.json"
            if name in reuse:  # reused: the seeds saved by earlier runs, however many there are
                if not file.is_file():
                    continue
                result = json.loads(file.read_text())
            else:
                result = run_worker(name, args.data_dir, args.rows, offset)
                file.write_text(json.dumps(result))
            print(name, "seed", offset, json.dumps(result), flush=True)
            runs.setdefault(name, []).append(result)
    return runs


def seeds_paragraph(results: dict, further: dict[str, list[dict]]) -> str:
    """Accuracy and time over seeds: one dev set of 872 rows moves by about a point from seed to seed."""
    import statistics

    summary = {}
    for name in (n for n in SEEDED if n in results):
        runs = [results[name], *further.get(name, [])]
        summary[name] = (statistics.mean(r["accuracy"] for r in runs), statistics.mean(r["seconds"] for r in runs),
                         [r["accuracy"] for r in runs])
    text = "Over seeds (training order, new head's initialisation, dropout; same data): " + "; ".join(
        f"{name} mean dev accuracy {acc:.4f} ({', '.join(f'{a:.4f}' for a in each)}), mean time {sec:.0f} s"
        for name, (acc, sec, each) in summary.items())
    if not {"strong", "ours"} <= set(summary):
        return text + "."
    (s_acc, s_sec, _), (o_acc, o_sec, _) = summary["strong"], summary["ours"]
    trainers = [name for name in ("reference", "strong") if name in summary]
    best = max(summary[name][0] for name in trainers)
    against = "the strong mean" if trainers == ["strong"] else "the better of the reference and strong means"
    return (text + f". Ours against strong: {s_sec / o_sec:.2f}x the speed; against {against}: "
            f"{100 * (o_acc - best):+.2f} points of accuracy.")


def reused_note(saved: Path, reused: set[str]) -> str:
    """Say which rows were read from an earlier run, and when that run wrote them: the table mixes two runs."""
    import datetime

    if not reused:
        return ""
    when = {name: datetime.datetime.fromtimestamp((saved / f"train_speed-{name}.json").stat().st_mtime)
            for name in sorted(reused)}
    return "\n\nRead from an earlier run (`--reuse`), not measured in this one: " + ", ".join(
        f"{name} (saved {time:%Y-%m-%d %H:%M})" for name, time in when.items()) + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--only", default=",".join(CONFIGS), help="Comma-separated subset of configurations.")
    parser.add_argument("--reuse", default="", help="Configurations to read from bench/_out/ instead of rerunning "
                                                     "(each run saves its result there).")
    parser.add_argument("--seeds", type=int, default=1, help="Train every configuration with this many seeds "
                        "(training order, new head, dropout) and report the accuracy of each and the means; the "
                        "reference recipe's extra seeds take ~20 min each on a 2-core CPU.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed-offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data_dir, args.rows, args.seed_offset)))
        return
    peaks = run_worker("peaks", args.data_dir, args.rows)
    full = run_worker("full128", args.data_dir, args.rows)
    full["short"] = run_worker("short", args.data_dir, args.rows)
    full["bert_base_peak_rss_mb"] = run_worker("bertbase_memory", args.data_dir, args.rows)["peak_rss_mb"]
    head = run_worker("headonly", args.data_dir, args.rows)
    saved = Path(__file__).resolve().parent / "_out"
    saved.mkdir(exist_ok=True)
    reuse = set(filter(None, args.reuse.split(",")))
    results = {}
    for name in args.only.split(","):
        if name in reuse:
            results[name] = json.loads((saved / f"train_speed-{name}.json").read_text())
        else:
            results[name] = run_worker(name, args.data_dir, args.rows)
            (saved / f"train_speed-{name}.json").write_text(json.dumps(results[name]))
        print(name, json.dumps(results[name]), flush=True)
    body = report(results, peaks, full, head, args.rows) + reused_note(saved, reuse & set(results))
    if args.seeds > 1:
        body += "\n\n" + seeds_paragraph(results, further_seeds(args, saved, reuse, set(results)))
    if set(results) == set(CONFIGS):
        write_section("Training speed (SST-2 sample, bundled MiniLM)", body)
    print(body)


if __name__ == "__main__":
    main()
