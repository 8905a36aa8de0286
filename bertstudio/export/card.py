"""The model card: README.md with Hub metadata, what the model was trained on, how well it did, and how to use it.

``card_facts`` gathers what the run folder knows; ``model_card`` is a pure function
of those facts, so the text is easy to test and to change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertstudio.data.long_texts import LongTexts
from bertstudio.errors import ModelError
from bertstudio.export.multilabel import multilabel_usage_note
from bertstudio.models.pooling import POOLING_IN_WORDS, folder_class
from bertstudio.models.registry import find_variant
from bertstudio.predict.locate import ModelLocation
from bertstudio.results import ExportResult, Preprocessing, Summary, read_json, read_run_settings
from bertstudio.runs import RunFolder

FORMAT_TITLES = {"hf": "Hugging Face (safetensors)", "onnx": "ONNX", "onnx-int8": "ONNX INT8",
                 "torchscript": "TorchScript"}
LOCAL_REFERENCE = "path/to/this/folder"


@dataclass
class CardFacts:
    label_names: list[str]
    max_length: int
    temperature: float
    text_pair: bool
    blend_weight: float = 1.0  # share of the fine-tuned model when blended with the simple word-count model
    base_model: str | None = None  # a Hub id, for the metadata; None for local folders
    base_model_name: str | None = None
    summary: Summary | None = None
    data: dict[str, Any] | None = None  # the run's data_report.json
    settings: dict[str, Any] | None = None  # the run's config.json
    reference: str = LOCAL_REFERENCE  # how the transformers snippet names the model: a folder, or the Hub repo
    checks: list[str] = field(default_factory=list)  # one line per export with its parity result
    warnings: list[str] = field(default_factory=list)
    long_texts: LongTexts | None = None  # what is kept of long texts (preprocessing.json); None: the head cut
    thresholds: dict[str, float] | None = None  # multi-label models: each label's decision threshold
    # --- fine-tuning strategies (issue 20) ---
    pooling: str | None = None  # the model reads texts through this pooling (preprocessing.json)
    own_code: bool = False  # the pooling needs pooled_modeling.py, saved beside the weights
    tokenizer_class: str | None = None  # the tokenizer's own transformers class ("BertTokenizer"), if it has one


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass(frozen=True)
class RunRecords:
    """What the run a model came from recorded, for its card (None: not recorded, as for a model outside a run)."""

    summary: Summary | None = None
    data: dict[str, Any] | None = None  # data_report.json
    settings: dict[str, Any] | None = None  # config.json


# A damaged data_report.json: only the card reads it (the run wrote it whole when it started).
DATA_REPORT_HINT = "Put the run's data_report.json back from a copy of the run, or delete it to export without it."


def run_records(location: ModelLocation) -> RunRecords:
    """The run's summary, data report and settings, each checked: a file that is there but damaged is a ModelError
    naming it (and the field), so export can refuse before any work.  A missing file is not recorded."""
    if location.run_dir is None:
        return RunRecords()
    run = RunFolder(location.run_dir)
    data = read_json(run.data_report, DATA_REPORT_HINT) if run.data_report.is_file() else None
    if data is not None and not isinstance(data, dict):
        raise ModelError(f"{run.data_report} holds a JSON {type(data).__name__}, not a data report.", DATA_REPORT_HINT)
    return RunRecords(summary=Summary.read(run.summary) if run.summary.is_file() else None, data=data,
                      settings=read_run_settings(run.path) if run.config.is_file() else None)


def hub_id_for(base_model: str | None) -> str | None:
    """The Hub id of the base model: registry names are mapped, folders have none."""
    if not base_model:
        return None

    variant = find_variant(base_model)
    if variant is not None:
        return variant.hub_id or next((a for a in variant.aliases if "/" in a), None)
    looks_like_id = base_model.count("/") == 1 and not base_model.startswith((".", "/", "~"))
    return base_model if looks_like_id and not Path(base_model).exists() else None


def standard_tokenizer_class(folder: Path) -> str | None:
    """The transformers class the folder's tokenizer_config.json names ("BertTokenizer"), when transformers has it."""
    import transformers

    name = (_read_json(folder / "tokenizer_config.json") or {}).get("tokenizer_class")
    return name if isinstance(name, str) and name.isidentifier() and hasattr(transformers, name) else None


def card_facts(location: ModelLocation, prep: Preprocessing) -> CardFacts:
    facts = CardFacts(label_names=prep.label_names, max_length=prep.max_length, temperature=prep.temperature,
                      text_pair=prep.text_pair, blend_weight=prep.blend_weight, base_model=hub_id_for(prep.base_model),
                      base_model_name=prep.base_model, long_texts=LongTexts.of(prep), pooling=prep.pooling,
                      own_code=folder_class(location.folder) is not None,
                      tokenizer_class=standard_tokenizer_class(location.folder))
    facts.thresholds = dict(zip(prep.label_names, prep.threshold_vector())) if prep.multi_label else None
    if location.run_dir is None:
        return facts
    records = run_records(location)
    facts.summary, facts.data, facts.settings = records.summary, records.data, records.settings
    facts.base_model_name = (facts.summary.model if facts.summary else "") or prep.base_model
    return facts


def describe_export(result: ExportResult, relative_to: Path | None = None) -> str:
    """One line: size, place, parity; ``relative_to`` shortens the path (for model cards)."""
    p = result.parity
    where = result.path.relative_to(relative_to) if relative_to is not None else result.path
    text = f"{FORMAT_TITLES[result.format]}: {result.size_bytes / 1e6:.1f} MB at {where}"
    if p.size_ratio is not None:
        text += f" ({p.size_ratio:.0%} of the fp32 ONNX file)"
    text += f"; labels agree on {p.label_agreement:.1%} of {p.checked_on}"
    if p.pipeline_label_agreement is not None:
        # Compared with the fine-tuned model without a blend (the pipeline cannot apply one): said, so the figure is
        # not read as agreement with the labels BERT Studio gives a blended model.
        text += f" (transformers.pipeline against the fine-tuned model alone: {p.pipeline_label_agreement:.1%})"
    if p.accuracy_change_points is not None and result.format == "onnx-int8":
        text += (f"; accuracy change {p.accuracy_change_points:+.1f} points, "
                 f"macro-F1 change {p.macro_f1_change_points:+.1f} points")
    elif result.format != "onnx-int8":
        text += f"; largest logit difference {p.max_abs_logit_diff:.1e}"
    if result.hub_url:
        text += f"; uploaded to {result.hub_url}"
    return text


def _predicts(facts: CardFacts) -> str:
    """The card's first word on what the model gives: one label, or a set of them (a multi-label model)."""
    what = "a pair of texts" if facts.text_pair else "a text"
    if facts.thresholds:
        return (f"It gives {what} any number of its {len(facts.label_names)} labels (possibly none): each label "
                "applies on its own, when its probability reaches its threshold.")
    return f"It predicts one of {len(facts.label_names)} labels for {what}."


def _front_matter(facts: CardFacts, fmt: str) -> str:
    # JSON strings are valid YAML scalars: quoting this way is safe for any label or model name.
    lines = ["---", "library_name: transformers", "pipeline_tag: text-classification"]
    if facts.base_model:
        lines.append(f"base_model: {json.dumps(facts.base_model)}")
    tags = ["text-classification", "bert-studio"] + ([fmt] if fmt != "hf" else [])
    lines += ["tags:"] + [f"- {json.dumps(t)}" for t in tags]
    lines += ["metrics:", "- accuracy", "- f1", "---"]
    return "\n".join(lines)


def _data_section(facts: CardFacts) -> str:
    if not facts.data:
        return "## Training data\n\nNot recorded (this model folder did not come with its training run)."
    data, lines = facts.data, ["## Training data", ""]
    if data.get("table"):
        lines.append(f"{data['table']}")
    split = data.get("split") or {}
    if split:
        lines.append("Split: " + ", ".join(f"{name} {n:,} rows" for name, n in split.items()) + ".")
    counts = (data.get("report") or {}).get("class_counts") or {}
    if counts:
        lines += ["", "| label | rows |", "| --- | ---: |"] + [f"| {k} | {v:,} |" for k, v in counts.items()]
    lengths = data.get("lengths") or {}
    if lengths.get("percentiles"):
        p = lengths["percentiles"]
        lines += ["", f"Text length in tokens: median {p.get('50')}, 95% at most {p.get('95')}; "
                      f"{_kept(facts)}."]
    return "\n".join(lines)


def _metrics_section(facts: CardFacts) -> str:
    if not facts.summary:
        return "## Results\n\nNot recorded."
    s = facts.summary
    rows = s.metrics.get("rows")
    split = s.evaluated_on
    on = f"the {split} split" + (f" ({rows:,} rows)" if rows else "")
    caveat = ("which was not used for training" if split == "test" else
              "which also chose the best checkpoint, so these figures are slightly optimistic")
    lines = ["## Results", "", f"Measured on {on}, {caveat}.", "",
             "| metric | value |", "| --- | ---: |", f"| {_accuracy_name(facts)} | {s.accuracy:.4f} |",
             f"| macro-F1{' (each label at its own threshold)' if facts.thresholds else ''} | {s.macro_f1:.4f} |"]
    per_class = s.metrics.get("per_class") or {}
    if per_class:
        lines += ["", "| label | precision | recall | F1 | rows |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']:,} |"
                  for name, m in per_class.items()]
    return "\n".join(lines)


def _accuracy_name(facts: CardFacts) -> str:
    """For label sets, accuracy counts a text right only when every one of its labels is: it says so."""
    return "subset accuracy (every label of a text right)" if facts.thresholds else "accuracy"


def _training_section(facts: CardFacts) -> str:
    keys = ("model", "max_length", "epochs", "max_steps", "batch_size", "lr", "head_lr", "precision", "seed",
            "pooling", "layer_lr_decay", "unfreezing", "lora_rank")
    settings = {k: facts.settings.get(k) for k in keys if facts.settings and facts.settings.get(k) is not None}
    lines = ["## Training", "", f"Fine-tuned from {facts.base_model_name or 'a BERT-family model'} with BERT Studio."]
    if settings:
        lines.append("Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + ".")
    if facts.summary and facts.summary.train_seconds is not None:
        lines.append(f"Training took {facts.summary.train_seconds:.0f} s on {facts.summary.device or '?'}.")
    return "\n".join(lines)


def _usage_section(facts: CardFacts, fmt: str) -> str:
    here = facts.reference
    pair = ', "text_pair": "second text"' if facts.text_pair else ""
    second = ', ["second text"]' if facts.text_pair else ""
    predict = f"bertstudio predict {LOCAL_REFERENCE} --data texts.csv --out predictions.csv" + \
        ("" if fmt == "hf" else f" --backend {fmt}")
    tokenize = (f'enc = tokenizer(["your text"]{second}, truncation=True, max_length={facts.max_length}, '
                f'padding=True, return_tensors="{{}}")')
    if fmt == "hf":
        call = (f'classifier({{"text": "your text"{pair}}}, truncation=True)' if facts.text_pair
                else 'classifier("your text", truncation=True)')
        code = [*_hf_loading(facts), call]
    elif fmt in ("onnx", "onnx-int8"):
        file = "model.onnx" if fmt == "onnx" else "model.int8.onnx"
        code = ["import numpy as np, onnxruntime", "from transformers import AutoTokenizer", "",
                f'tokenizer = AutoTokenizer.from_pretrained("{here}")',
                f'session = onnxruntime.InferenceSession("{here}/{file}")', tokenize.format("np"),
                "inputs = [i.name for i in session.get_inputs()]",
                "logits = session.run(None, {n: enc[n].astype(np.int64) for n in inputs})[0]",
                *_label_lines(facts)]
    else:
        # The traced module takes its inputs by position: export.json records their order (a name the snippet
        # once left undefined, so it failed as pasted).
        code = ["import json, numpy as np, torch", "from transformers import AutoTokenizer", "",
                f'tokenizer = AutoTokenizer.from_pretrained("{here}")',
                f'module = torch.jit.load("{here}/model.pt")', tokenize.format("pt"),
                f'inputs = json.load(open("{here}/export.json"))["inputs"]',
                "with torch.no_grad():",
                "    logits = module(*[enc[n] for n in inputs]).float().numpy()",
                *_label_lines(facts)]
    calibration = ""
    if abs(facts.temperature - 1.0) > 1e-9:
        calibration = (f"\n\nProbabilities are calibrated by dividing the logits by the temperature "
                       f"{facts.temperature:.3f} before the softmax (`preprocessing.json`). BERT Studio does this "
                       "for you; other code must do it itself to get calibrated confidences (labels are the same).")
    return "\n".join(["## How to use", "", "```python", *code, "```", "", *_blend_usage_note(facts),
                      "Or with BERT Studio, which repeats the training preprocessing exactly:", "",
                      "```bash", predict, "```"]) + calibration + multilabel_usage_note(facts.thresholds) + pooling_note(
        facts, fmt)


def _blend_usage_note(facts: CardFacts) -> list[str]:
    """A blended model's labels come from two models; the code above runs one of them. A tester's ONNX snippet
    disagreed with `bertstudio predict` on 17 of 200 texts of a blended run, and the card did not say so there."""
    if facts.blend_weight >= 1:
        return []
    return [f"**This model is a blend** ({facts.blend_weight:.0%} the fine-tuned model, "
            f"{1 - facts.blend_weight:.0%} a simple word-count model: see below). The code above runs the "
            "fine-tuned model alone, so on some texts its label differs from the one BERT Studio gives; "
            "`bertstudio predict` and `bertstudio serve` apply the blend.", ""]


def _hf_loading(facts: CardFacts) -> list[str]:
    """The lines that open the Hugging Face folder as a pipeline.  A pooled model needs its own code, its tokenizer
    none: transformers 5's AutoTokenizer reads config.json (whose model type is that code's) before the tokenizer
    files and asks whether to run the folder's code, so the tokenizer is opened with its own class."""
    top_k = ", top_k=None" if facts.thresholds else ""
    if not facts.own_code:
        return ["from transformers import pipeline", "",
                f'classifier = pipeline("text-classification", model="{facts.reference}"{top_k})']
    here = facts.reference
    tokenizer = (f'{facts.tokenizer_class}.from_pretrained("{here}")' if facts.tokenizer_class else
                 f'AutoTokenizer.from_pretrained("{here}", trust_remote_code=False)')
    return [f"from transformers import {facts.tokenizer_class or 'AutoTokenizer'}, pipeline", "",
            "tokenizer = " + tokenizer + "  # a standard tokenizer: no code from the folder",
            "# the model reads a text with the pooling in pooled_modeling.py (see below)",
            f'classifier = pipeline("text-classification", model="{here}", tokenizer=tokenizer{top_k}, '
            "trust_remote_code=True)"]


def _label_lines(facts: CardFacts) -> list[str]:
    """From the logits to what a person wants, the label(s), with the names in preprocessing.json.

    A multi-label model's logits are not a choice among labels (argmax would give one label): each label's
    sigmoid against its own threshold decides whether it applies."""
    opened = ["", "import json", f'prep = json.load(open("{facts.reference}/preprocessing.json"))']
    if not facts.thresholds:
        return [*opened, 'label = prep["label_names"][int(logits[0].argmax())]']
    return [*opened,
            "probs = 1 / (1 + np.exp(-logits))  # each label's own probability (a sigmoid, not a softmax)",
            "# a label too rare in validation for a threshold of its own uses the one tuned on all labels",
            'thresholds = [prep["thresholds"].get(name, prep["threshold"]) for name in prep["label_names"]]',
            'labels = [name for name, p, t in zip(prep["label_names"], probs[0], thresholds) if p >= t]']


def pooling_note(facts: CardFacts, fmt: str) -> str:
    """Why the Hugging Face folder asks for trust_remote_code: the pooling is code, not weights."""
    if not (facts.own_code and fmt == "hf"):
        return ""
    how = POOLING_IN_WORDS[facts.pooling]
    return (f"\n\nThis classifier reads a text as {how}. The standard BERT classes cannot (no choice of weights "
            "turns their [CLS]-and-pooler head into that), so the folder carries the few lines that do, "
            "`pooled_modeling.py` (torch and transformers only, written by BERT Studio), named in config.json's "
            "`auto_map`: load it with `trust_remote_code=True`. Without it transformers refuses the folder (its "
            "config.json names a model type of its own): the plain BERT head would load the same weights and "
            f"predict different labels. {_tokenizer_note(facts)} The ONNX and TorchScript exports contain the "
            "pooling already.")


def _tokenizer_note(facts: CardFacts) -> str:
    """How to open the tokenizer of a folder whose model needs code: it needs none."""
    asks = ("`AutoTokenizer.from_pretrained(folder)` reads config.json first, and so asks whether to run the "
            "folder's code")
    if facts.tokenizer_class:
        return (f"The tokenizer is a standard {facts.tokenizer_class} and needs no code: "
                f"`{facts.tokenizer_class}.from_pretrained(folder)` loads it. {asks}: pass "
                "`trust_remote_code=False` (or answer no) and it loads the same tokenizer.")
    return (f"The tokenizer needs no code: `AutoTokenizer.from_pretrained(folder, trust_remote_code=False)` loads "
            f"it ({asks} without that).")


def _limitations_section(facts: CardFacts) -> str:
    labels = ", ".join(facts.label_names)
    return "\n".join([
        "## Intended use and limitations", "",
        f"Sorts texts into one of these labels: {labels}. Every text gets one of them, even a text that "
        "fits none: check low-confidence predictions by hand." if not facts.thresholds else
        f"Gives each text the labels it fits among: {labels} (any number of them, possibly none).",
        "It works best on texts like its training data (same language, subject and style); accuracy on other "
        "kinds of text can be much lower than the results above.",
        _long_text_limits(facts),
        "Do not use it alone for decisions that affect people; mistakes and biases in the training labels "
        "are learned too."])


def _kept(facts: CardFacts) -> str:
    return (facts.long_texts or LongTexts(max_length=facts.max_length)).describe()


def _long_text_limits(facts: CardFacts) -> str:
    """What is read of a long text, and what code other than BERT Studio's does instead."""
    if facts.long_texts is None or facts.long_texts.plain_cut:
        return f"Only the first {facts.max_length} tokens of a text are read."
    return (f"Trained so that {_kept(facts)}: `bertstudio predict` and `bertstudio serve` do the same with every "
            f"format of this model. transformers.pipeline (and the snippets above) cannot: with truncation=True "
            f"they read only the first {facts.max_length} tokens, so on longer texts their answers can differ from "
            "BERT Studio's; predict long texts with BERT Studio to get what the model was evaluated on.")


def pipeline_advice(prep: Preprocessing) -> str:
    """What to do when transformers.pipeline disagrees with BERT Studio (export.json's warning)."""
    kept = LongTexts.of(prep)
    if kept.plain_cut:
        return "call it with truncation=True."
    return (f"it cannot read long texts as this model was trained ({kept.describe()}) and keeps only the first "
            f"{prep.max_length} tokens: predict long texts with BERT Studio.")


def _simple_model_section(facts: CardFacts) -> str:
    """The simple word-count model trained beside this one: the verdict, and what the blend (if any) adds."""
    simple = facts.summary.simple_model if facts.summary else None
    lines = []
    if simple is not None:
        lines.append(simple.verdict)
    if facts.blend_weight < 1:
        lines.append(
            f"This model is a blend: {facts.blend_weight:.0%} of the fine-tuned model's calibrated probabilities plus "
            f"{1 - facts.blend_weight:.0%} of a simple word-count model's (TF-IDF and logistic regression, in "
            "`word_counts.json` and `word_counts.safetensors` beside the weights). `bertstudio predict` and "
            "`bertstudio serve` apply the blend; `transformers.pipeline` runs the fine-tuned part alone.")
    return "\n".join(["## Compared with a simple model", "", *lines]) if lines else ""


FORMAT_FOLDER_NOTES = {
    "hf": "the weights as safetensors with the tokenizer: `transformers.pipeline` and `from_pretrained` load it",
    "onnx": "`model.onnx`, for ONNX Runtime from Python, C#, Java, JavaScript or C++",
    "onnx-int8": "`model.int8.onnx`, the ONNX model with 8-bit weights: about 4x smaller, faster on CPUs",
    "torchscript": "`model.pt`, for PyTorch without Python code (C++ LibTorch, TorchServe, mobile)",
}


def bundle_card(facts: CardFacts, formats: list[str]) -> str:
    """README.md at the top of the zip that holds several export folders: what each folder is and how to load
    it (each folder also has its own README.md)."""
    title = f"# Text classifier: {', '.join(facts.label_names[:6])}{' ...' if len(facts.label_names) > 6 else ''}"
    intro = (f"The same BERT-family text classifier, trained with BERT Studio, in {len(formats)} formats, each in "
             f"its own folder with its tokenizer, `preprocessing.json` and a README.md of its own. {_predicts(facts)} "
             "The paths below are relative to the folder this zip was unzipped into.")
    folders = ["## What is in this zip", "", "| folder | format | what it is |", "| --- | --- | --- |"]
    folders += [f"| `{fmt}/` | {FORMAT_TITLES[fmt]} | {FORMAT_FOLDER_NOTES[fmt]} |" for fmt in formats]
    parts = [title, intro, "\n".join(folders)]
    if facts.warnings:
        parts.append("\n".join(["## Warnings", ""] + [f"- {w}" for w in facts.warnings]))
    parts.append(_metrics_section(facts))
    if facts.checks:
        parts.append("\n".join(["## Export checks", ""] + [f"- {c}" for c in facts.checks]))
    for fmt in formats:
        usage = _usage_section(CardFacts(**{**facts.__dict__, "reference": fmt}), fmt)
        parts.append(usage.replace("## How to use", f"## How to load {FORMAT_TITLES[fmt]} (`{fmt}/`)", 1)
                     .replace(LOCAL_REFERENCE, fmt))
    parts.append(_limitations_section(facts))
    return "\n\n".join(part for part in parts if part) + "\n"


def model_card(facts: CardFacts, fmt: str = "hf") -> str:
    """README.md text for an export folder of format ``fmt``."""
    title = f"# Text classifier: {', '.join(facts.label_names[:6])}{' ...' if len(facts.label_names) > 6 else ''}"
    kind = FORMAT_TITLES.get(fmt, fmt)
    article = "An" if kind[:1].upper() in "AEIOU" else "A"  # "An ONNX export" (it said "A ONNX")
    intro = f"{article} {kind} export of a BERT-family text classifier trained with BERT Studio. {_predicts(facts)}"
    parts = [_front_matter(facts, fmt), title, intro]
    if facts.warnings:
        parts.append("\n".join(["## Warnings", ""] + [f"- {w}" for w in facts.warnings]))
    parts += [_metrics_section(facts), _simple_model_section(facts), _data_section(facts), _training_section(facts)]
    if facts.checks:
        parts.append("\n".join(["## Export checks", ""] + [f"- {c}" for c in facts.checks]))
    parts += [_usage_section(facts, fmt), _limitations_section(facts)]
    return "\n\n".join(part for part in parts if part) + "\n"
