"""Turning benchmark records into what people read: JSON, a markdown table, one headline sentence, and
the backend to recommend for a model (pure functions, no torch)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bertstudio.benchmark.backends import BACKEND_LABELS
from bertstudio.benchmark.models import ARCHITECTURE_NOTE
from bertstudio.benchmark.records import BenchRecord
from bertstudio.benchmark.timing import geometric_mean, speedup
from bertstudio.data.findings import count_noun
from bertstudio.runs import atomic_write_text

# Backends that change the numbers the model computes: recommended only after a passed parity check.
LOSSY_BACKENDS = ("torch-bf16", "onnx-int8")
REFERENCE_BACKEND = "torch-fp32"
RANDOM_MARK = "†"  # a dagger, not an asterisk: markdown would read two asterisks in a sentence as italics


# --------------------------------------------------------------------------- JSON


def records_to_json(records: Sequence[BenchRecord]) -> str:
    return json.dumps([r.to_dict() for r in records], indent=2)


def write_json(records: Sequence[BenchRecord], path: str | Path) -> Path:
    """The records as a JSON list, written through a temporary file so a reader never sees half of it."""

    target = Path(path).expanduser()
    atomic_write_text(target, records_to_json(records) + "\n")
    return target


def load_records(path: str | Path) -> list[BenchRecord]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data["records"] if isinstance(data, dict) else data
    return [BenchRecord.from_dict(item) for item in items]


# --------------------------------------------------------------------------- table


def model_label(record: BenchRecord) -> str:
    """The model's short name, marked when it was timed with random weights."""
    return record.model_label + (RANDOM_MARK if record.weights == "random" else "")


BUSY_MARK = " ⚠"


def format_ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def format_parity(record: BenchRecord) -> str:
    if record.parity_agreement is None:
        return "–"
    verdict = {True: "ok", False: "FAILED", None: "ref" if record.backend == REFERENCE_BACKEND else "–"}
    return f"{record.parity_agreement:.0%} {verdict[record.parity_passed]}"


TABLE_HEADER = ("Model", "Backend", "Batch", "Seq", "p50 ms", "p95 ms", "p99 ms", "Texts/s", "Tokenize p50 ms",
                "End-to-end p50 ms", "Size MB", "Peak mem MB", "Same labels as fp32")


def disturbed_ms(record: BenchRecord, value: float | None) -> str:
    """A median of the cell's rounds, marked when the machine was disturbed while they ran: the model-only and
    end-to-end figures come from the same rounds, so a disturbance touches both."""
    flagged = value is not None and (record.busy or record.slow_host)
    return format_ms(value) + (BUSY_MARK if flagged else "")


def table_rows(records: Sequence[BenchRecord]) -> list[list[str]]:
    """The table's cells as text, one row per record (shared by the markdown table and the app's table)."""
    return [[model_label(r), BACKEND_LABELS.get(r.backend, r.backend), str(r.batch_size), str(r.seq_len),
             disturbed_ms(r, r.p50_ms), format_ms(r.p95_ms),
             format_ms(r.p99_ms), f"{r.throughput:,.0f}",
             format_ms(r.tokenize_p50_ms), disturbed_ms(r, r.e2e_p50_ms),
             f"{r.size_mb:,.0f}" if r.size_mb is not None else "–",
             f"{r.peak_memory_mb:,.0f}" if r.peak_memory_mb is not None else "–", format_parity(r)]
            for r in records]


def footnotes(records: Sequence[BenchRecord]) -> list[str]:
    notes = []
    if any(r.weights == "random" for r in records):
        notes.append(f"{RANDOM_MARK} {ARCHITECTURE_NOTE}: the exact architecture with random weights, so the timing "
                     "is valid but no accuracy is claimed.")
    busy = [r for r in records if r.busy]
    if busy:
        worst = max(r.other_cpu_cores or 0.0 for r in busy)
        notes.append(f"{BUSY_MARK.strip()} {count_noun(len(busy), 'cell')} timed while other programs used the CPU "
                     f"(up to {worst:.1f} cores), even after measuring again: those figures are likely too slow.")
    slow = [r for r in records if r.slow_host and not r.busy]
    if slow:
        worst = max(r.host_slowdown or 1.0 for r in slow)
        notes.append(f"{BUSY_MARK.strip()} {count_noun(len(slow), 'cell')} timed while this machine itself ran "
                     f"slower than its best in this run (a fixed matrix product timed around each cell took up to "
                     f"{worst - 1:.0%} longer), even after measuring again: those figures are likely too slow.")
    methods = sorted({r.bf16_method for r in records if r.bf16_method})
    if methods:
        how = {"cast": "weights cast to bfloat16 once", "autocast": "torch.autocast over fp32 weights"}
        notes.append("PyTorch bf16: " + ", ".join(how.get(m, m) for m in methods) + ".")
    if any(r.memory_kind == "rss-peak" for r in records):
        notes.append("Peak mem: the whole process's resident memory (RSS) at its highest while the cell ran: the "
                     "loaded model and its working memory, plus Python and everything else this process holds "
                     "(the app, when run from it), so compare rows of one run rather than across runs.")
    if any(r.memory_kind == "rss-delta" for r in records):
        notes.append("Peak mem: growth of the process's resident memory while the cell ran (working memory of "
                     "inference on top of the loaded model).")
    extra = sorted({part for r in records for part in r.note.split("; ") if part and part != ARCHITECTURE_NOTE})
    notes += [f"Note: {n}." for n in extra]
    return notes


def markdown_table(records: Sequence[BenchRecord]) -> str:
    """A markdown table of every record, with footnotes for random weights and how memory was measured."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "|".join("---" for _ in TABLE_HEADER) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(records)]
    notes = footnotes(records)
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


# --------------------------------------------------------------------------- headline


def _device_words(records: Sequence[BenchRecord]) -> str:
    return "on this GPU" if any(r.device.startswith("cuda") for r in records) else "on this CPU"


def _pick(values: Sequence, preferred) -> object:
    return preferred if preferred in values else values[0]


def _times(value: float) -> str:
    return f"{value:.1f}x"


ABOUT_AS_FAST = 1.05  # ratios within 5% either way are "about as fast": closer than timing noise on a busy machine


def speed_words(reference_ms: float, other_ms: float) -> str:
    """How ``other_ms`` compares with ``reference_ms``, ending where the reference's name follows: "2.0x faster
    than", "1.1x slower than", or "about as fast as" (a ratio under 1 read "0.9x faster")."""
    ratio = speedup(reference_ms, other_ms)
    if 1 / ABOUT_AS_FAST <= ratio <= ABOUT_AS_FAST:
        return "about as fast as"
    if ratio > 1:
        return f"{_times(ratio)} faster than"
    return f"{_times(1 / ratio)} slower than"


def _comparisons(items: Sequence[tuple[str, float]], reference_ms: float, reference: str) -> str:
    """ "A is 2.5x and B is 8.0x faster than C" when every item is faster; one clause each otherwise
    ("A is 2.0x faster than C and B is 1.1x slower than C")."""
    words = [speed_words(reference_ms, ms) for _, ms in items]
    if all(w.endswith(" faster than") for w in words):
        parts = [f"{name} is {w.removesuffix(' faster than')}" for (name, _), w in zip(items, words)]
        return f"{_joined(parts)} faster than {reference}"
    return _joined([f"{name} is {w} {reference}" for (name, _), w in zip(items, words)])


def _joined(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def headline(records: Sequence[BenchRecord], *, backend: str | None = None, batch_size: int | None = None,
             seq_len: int | None = None) -> str:
    """One sentence with the headline ratios.

    With several models: how much faster each is than the slowest, e.g. "DistilBERT-base is 1.9x faster
    than BERT-base at batch 1, seq 128, on this CPU (PyTorch fp32)".  With one model: how much faster
    each backend is than PyTorch fp32.  The cell defaults to batch 1 (latency of a single request) at
    the longest sequence, in PyTorch fp32.
    """
    if not records:
        return "No measurements yet."
    batch = batch_size if batch_size is not None else min(r.batch_size for r in records)
    seq = seq_len if seq_len is not None else max(r.seq_len for r in records if r.batch_size == batch)
    cell = [r for r in records if r.batch_size == batch and r.seq_len == seq]
    if not cell:
        return f"No measurements at batch {batch}, seq {seq}."
    where = f"at batch {batch}, seq {seq}, {_device_words(cell)}"
    models = list(dict.fromkeys(r.model for r in cell))
    if len(models) > 1:
        chosen = str(_pick(list(dict.fromkeys(r.backend for r in cell)), backend or REFERENCE_BACKEND))
        return _models_sentence([r for r in cell if r.backend == chosen], where, chosen)
    return _backends_sentence(cell, where)


def _models_sentence(cell: Sequence[BenchRecord], where: str, backend: str) -> str:
    slowest = max(cell, key=lambda r: r.p50_ms)
    others = sorted((r for r in cell if r is not slowest), key=lambda r: r.p50_ms, reverse=True)
    if not others:
        return f"{model_label(slowest)}: {format_ms(slowest.p50_ms)} ms {where} ({BACKEND_LABELS.get(backend, backend)})."
    compared = _comparisons([(model_label(r), r.p50_ms) for r in others], slowest.p50_ms, model_label(slowest))
    return f"{compared} {where} ({BACKEND_LABELS.get(backend, backend)})."


def _backends_sentence(cell: Sequence[BenchRecord], where: str) -> str:
    by_backend = {r.backend: r for r in cell}
    reference = by_backend.get(REFERENCE_BACKEND) or max(cell, key=lambda r: r.p50_ms)
    others = sorted((r for r in cell if r is not reference), key=lambda r: r.p50_ms)
    name = model_label(reference)
    ref_label = BACKEND_LABELS.get(reference.backend, reference.backend)
    if not others:
        return f"{name} takes {format_ms(reference.p50_ms)} ms {where} ({ref_label})."
    compared = _comparisons([(BACKEND_LABELS.get(r.backend, r.backend), r.p50_ms) for r in others],
                            reference.p50_ms, ref_label)
    return f"For {name}, {compared} {where}."


# --------------------------------------------------------------------------- recommendation


def _records_for(records: Sequence[BenchRecord], model: str, batch_size: int | None) -> list[BenchRecord]:
    return [r for r in records if (r.model == model or r.model_label == model) and r.device == "cpu"
            and (batch_size is None or r.batch_size == batch_size)]


def _doubt(backend: str, recs: Sequence[BenchRecord], passed: bool | None) -> str | None:
    """Why a backend's accuracy is in question, or None when it is not."""
    label = BACKEND_LABELS.get(backend, backend)
    if passed is False:
        agreement = next((r.parity_agreement for r in recs if r.parity_agreement is not None), None)
        share = f" on only {agreement:.0%} of the test rows" if agreement is not None else ""
        return f"{label} is not recommended: its predictions differed from PyTorch fp32{share}."
    if backend in LOSSY_BACKENDS and passed is None:
        return f"{label} is not recommended: its accuracy was not checked against the PyTorch model."
    return None


def _scores(p50: Mapping[str, Mapping[tuple[int, int], float]], cells: set) -> dict[str, float]:
    """Geometric-mean p50 of each backend over ``cells`` (backends that measured none of them are left out)."""
    return {b: geometric_mean(values) for b, times in p50.items()
            if (values := [times[c] for c in sorted(cells) if c in times])}


BF16_HARDWARE_NOTE = ("It needs a CPU with bf16 instructions (AVX512-BF16 or AMX) like this one; on other CPUs "
                      "bf16 is emulated and slow, and ONNX Runtime INT8 is the better choice.")


def recommend_backend(records: Sequence[BenchRecord], model: str, *, parity_passed: Mapping[str, bool] | None = None,
                      batch_size: int | None = None) -> tuple[str, str]:
    """The fastest honest CPU backend for ``model`` among those measured, and why, in one or two sentences.

    Honest: fp32 backends unless their parity check failed; bf16 and INT8 only when their parity check
    passed (``parity_passed`` can supply a stronger check, e.g. the Export tab's, by backend name).
    Speed: the geometric mean of p50 over every (batch, seq) measured for all candidates; ``batch_size``
    narrows that to how the model will be used (1: one request at a time, e.g. an API; 32: scoring files).
    """
    recs = _records_for(records, model, batch_size)
    if not recs:
        return REFERENCE_BACKEND, "No CPU measurements of this model yet; PyTorch fp32 is the safe default."
    by_backend: dict[str, list[BenchRecord]] = {}
    for r in recs:
        by_backend.setdefault(r.backend, []).append(r)
    verdicts = {b: (parity_passed or {}).get(b, rs[0].parity_passed) for b, rs in by_backend.items()}
    doubts = {b: _doubt(b, rs, verdicts[b]) for b, rs in by_backend.items()}
    honest = [b for b in by_backend if doubts[b] is None]
    if not honest:
        return REFERENCE_BACKEND, "None of the measured backends passed the accuracy check; use PyTorch fp32."
    p50 = {b: {(r.batch_size, r.seq_len): r.p50_ms for r in rs} for b, rs in by_backend.items()}
    shared = set.intersection(*(set(p50[b]) for b in honest))
    scores = _scores(p50, shared)
    best = min(honest, key=lambda b: scores[b])
    label = BACKEND_LABELS.get(best, best)
    if len(shared) == 1:
        batch, seq = next(iter(shared))
        where = f"at batch {batch}, {seq} tokens"
    else:
        where = f"geometric mean over {len(shared)} sizes"
    if best != REFERENCE_BACKEND and REFERENCE_BACKEND in scores:
        reason = (f"{label} is the fastest trustworthy choice on this CPU: "
                  f"{speed_words(scores[REFERENCE_BACKEND], scores[best])} PyTorch fp32 ({where})")
    else:
        reason = f"{label} is the fastest trustworthy choice on this CPU ({where})"
    agreement, rows = by_backend[best][0].parity_agreement, by_backend[best][0].parity_rows
    if agreement is not None and best != REFERENCE_BACKEND:
        reason += f", and its labels matched PyTorch fp32 on {agreement:.0%} of {rows} test texts"
    faster_but_doubtful = [doubts[b] for b in by_backend if doubts[b] and scores.get(b, float("inf")) < scores[best]]
    hardware = [BF16_HARDWARE_NOTE] if best == "torch-bf16" else []
    return best, " ".join([reason + ".", *hardware, *faster_but_doubtful])


OWN_MODEL_KINDS = ("folder", "onnx-export")  # the person's own models, as opposed to built-in ones


@dataclass(frozen=True)
class Recommendation:
    """The backend to use for one of the person's models, for one way of using it."""

    label: str  # the model, as the tables name it
    use: str  # "" (every size measured), or e.g. "one text at a time"
    backend: str
    reason: str

    def markdown(self) -> str:
        use = f" ({self.use})" if self.use else ""
        return f"**Recommended for {self.label}{use}: {BACKEND_LABELS.get(self.backend, self.backend)}.** {self.reason}"


def _use_of(batch_size: int) -> str:
    return "one text at a time, e.g. an API" if batch_size == 1 else f"batches of {batch_size}, e.g. scoring files"


def recommend_by_use(records: Sequence[BenchRecord], model: str, *,
                     parity_passed: Mapping[str, bool] | None = None) -> list[Recommendation]:
    """One recommendation, or two when the fastest backend one text at a time differs from the fastest on
    the largest batch measured (e.g. INT8 answers single requests fastest, bf16 scores files fastest)."""
    recs = _records_for(records, model, None)
    label = recs[0].model_label if recs else model
    sizes = sorted({r.batch_size for r in recs})
    if len(sizes) > 1:
        ends = [(b, *recommend_backend(records, model, parity_passed=parity_passed, batch_size=b))
                for b in (sizes[0], sizes[-1])]
        if ends[0][1] != ends[1][1]:
            return [Recommendation(label, _use_of(b), backend, reason) for b, backend, reason in ends]
    return [Recommendation(label, "", *recommend_backend(records, model, parity_passed=parity_passed))]


def own_model_recommendations(records: Sequence[BenchRecord]) -> list[Recommendation]:
    """For each of the person's own models measured: the fastest way to run it whose answers can be trusted."""
    models = dict.fromkeys(r.model for r in records if r.model_kind in OWN_MODEL_KINDS)
    return [rec for model in models for rec in recommend_by_use(records, model)]
