"""Helpers the tests share (import them as ``from helpers import ...``; fixtures live in conftest.py).

``make_tiny_run`` builds in a second what training would leave behind: ``model/`` with
weights, tokenizer and preprocessing.json, plus config.json, summary.json,
data_report.json and a labelled test_predictions.csv (random weights, real tokenizer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

LABELS = ["negative", "neutral", "positive"]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
WORDS = ["good", "bad", "fine", "awful", "great", "okay", "terrible", "lovely", "film", "service", "parcel"]


def sample_texts(n: int) -> list[str]:
    """Deterministic texts of varied length, so batches need padding."""
    return [" ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(1 + i % 9)) for i in range(n)]


def make_tiny_run(root: Path, *, family: str = "bert", text_pair: bool = False, temperature: float = 1.0,
                  max_length: int = 24, test_rows: int = 48) -> Path:
    import pandas as pd
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DistilBertConfig,
        DistilBertForSequenceClassification,
    )

    from bertstudio.models.bundled import bundled_model_path

    torch.manual_seed(0)
    labels = {"id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)}}
    if family == "distilbert":
        config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=64, initializer_range=0.2, **labels)
        model = DistilBertForSequenceClassification(config)
    else:
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64, initializer_range=0.2, **labels)
        model = BertForSequenceClassification(config)
    model_dir = root / "model"
    model.eval().save_pretrained(model_dir, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (bundled_model_path() / name).exists():
            shutil.copy(bundled_model_path() / name, model_dir / name)
    prep = {"max_length": max_length, "truncation": "longest_first", "lowercase": True, "text_pair": text_pair,
            "text_column": "text", "text_pair_column": "text_pair" if text_pair else None, "label_names": LABELS,
            "temperature": temperature, "base_model": "bundled-minilm"}
    (model_dir / "preprocessing.json").write_text(json.dumps(prep))
    texts = sample_texts(test_rows)
    frame = pd.DataFrame({"text": texts})
    if text_pair:
        frame["text_pair"] = list(reversed(texts))
    frame["label"] = [LABELS[i % 3] for i in range(test_rows)]
    frame.to_csv(root / "test_predictions.csv", index=False)
    (root / "config.json").write_text(json.dumps({"model": "bundled-minilm", "max_length": max_length,
                                                  "epochs": 1, "batch_size": 8, "seed": 42}))
    (root / "summary.json").write_text(json.dumps({
        "accuracy": 0.5, "macro_f1": 0.4, "evaluated_on": "test", "model": "tiny test model", "train_seconds": 1.0,
        "metrics": {"rows": test_rows, "per_class": {n: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 16}
                                                     for n in LABELS}}}))
    (root / "data_report.json").write_text(json.dumps({
        "table": "Read 240 rows from tiny.csv (CSV, comma-separated, UTF-8).",
        "report": {"class_counts": {n: 80 for n in LABELS}}, "split": {"train": 160, "validation": 32, "test": 48},
        "lengths": {"percentiles": {"50": 6, "95": 11}}}))
    return root


TOPICS = {"billing": "invoice refund charge payment", "delivery": "parcel courier late shipping",
          "praise": "great lovely wonderful thanks"}


def write_topic_csv(path: Path, rows_per_class: int) -> Path:
    """3 easy classes, each told apart by its own words: enough for the pipeline to learn in a few steps."""
    rows = ["text,label"]
    for i in range(rows_per_class):
        for label, vocab in TOPICS.items():
            w = vocab.split()
            rows.append(f"\"{w[i % 4]} {w[(i + 1) % 4]} number {i}\",{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


class QuietJsonHandler:
    """Mixed into the fake servers' request handlers (the fake Hubs): no request log, 200 to HEAD (the
    reachability probe), and JSON replies."""

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def reply_json(self, payload: dict, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_locally(handler) -> tuple[str, object]:
    """A threading HTTP server for ``handler`` on a free local port: (its URL, the server to shut down)."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


EMOTIONS = {"joy": "happy glad smiling delighted", "anger": "angry furious mad annoyed",
            "fear": "scared afraid nervous worried"}


def write_rows(path: Path, header: list[str], rows: list[list]) -> Path:
    """A CSV file of ``rows`` under ``header``."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_workbook(path: Path, sheets: dict[str, list[tuple]]) -> Path:
    """An Excel workbook with one sheet per entry of ``sheets``, in that order: each a header row, then its rows."""
    import pandas as pd

    with pd.ExcelWriter(path) as writer:
        for name, rows in sheets.items():
            pd.DataFrame(rows[1:], columns=list(rows[0])).to_excel(writer, sheet_name=name, index=False)
    return path


def write_multilabel_csv(path: Path, rows: int = 90, *, separator: str = ";", long: bool = False) -> Path:
    """Texts with one or two of three labels (each told apart by its own words), joined by ``separator``;
    ``long``: the words come after a filler of 7 to 35 words (a 16-token cut never sees them)."""
    import csv

    names = list(EMOTIONS)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "labels"])
        for i in range(rows):
            chosen = [names[i % 3]] + ([names[(i + 1) % 3]] if i % 2 else [])
            words = " ".join(EMOTIONS[n].split()[i % 4] for n in chosen)
            filler = " ".join(f"the weather was plain on day {i + k}" for k in range(1 + i % 5)) if long else ""
            writer.writerow([f"{filler} {words} story {i}".strip(), separator.join(chosen)])
    return path


def write_long_text_csv(path: Path, long_labels: tuple[str, ...] = ("good", "bad")) -> Path:
    """60 rows, two classes ("good", "bad"); most texts of ``long_labels`` far over 256 tokens (the bundled model's
    tokenizer), the others short."""
    import random

    rng = random.Random(0)
    words = {"good": "great lovely quick friendly helpful arrived early perfect".split(),
             "bad": "late broken rude slow missing refund never awful".split()}
    rows = ["text,label"]
    for i in range(60):
        label = ("good", "bad")[i % 2]
        size = rng.randint(150, 600) if i % 6 and label in long_labels else rng.randint(10, 40)
        rows.append(" ".join(rng.choice(words[label] + ["the", "parcel", "and"]) for _ in range(size)) + f",{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def run_readme_code(readme: Path) -> dict:
    """Run the first ```python block of a README as a person would paste it; returns the names it defined."""
    import re

    code = re.search(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(readme), "exec"), namespace)
    return namespace


def tab_page(root: Path, build, *, tokenizers=None, limits=None, settings_request: bool = False):
    """One tab of a test app, built as the app builds it: (its AppContext, its handlers by function name, its
    components by elem_id, a visitor's workspace). Handlers are called directly, as Gradio would call them."""
    import gradio as gr

    from bertstudio.jobs import JobRegistry
    from bertstudio.limits import NO_LIMITS
    from bertstudio.ui.common import TokenizerCache
    from bertstudio.ui.context import AppContext
    from bertstudio.ui.predictors import PredictorCache
    from bertstudio.ui.session import SessionStore

    with gr.Blocks() as demo:
        loaded = demo.load(lambda: None, None, None)
        states = {"data": gr.State(None), "data_file": gr.State(""), "model": gr.State("bundled-minilm"),
                  "model_choice": gr.State(None), "run_dir": gr.State(None)}
        if settings_request:
            states["settings_request"] = gr.State(None)
        with gr.Tabs() as tabs:
            ctx = AppContext(store=SessionStore(root), jobs=JobRegistry(), predictors=PredictorCache(),
                             tokenizers=tokenizers or TokenizerCache(), tabs=tabs, workspace=gr.State(None),
                             session_loaded=loaded, limits=limits or NO_LIMITS, **states)
            build(ctx)
    handlers = {block_fn.fn.__name__: block_fn.fn for block_fn in demo.fns.values() if block_fn.fn is not None}
    components = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    return ctx, handlers, components, ctx.store.open(None)
