"""The texts that state a shared app's limits before a person hits one, and a waiting job's place in line."""

from __future__ import annotations

from bertstudio.jobs import QueuePlace
from bertstudio.limits import LIFT_HINT, UsageLimits
from bertstudio.models.registry import find_variant
from bertstudio.ui.views.progress import format_duration


def data_note(limits: UsageLimits) -> str:
    parts = []
    if limits.max_upload_mb is not None:
        parts.append(f"files up to **{limits.max_upload_mb:g} MB**")
    if limits.max_rows is not None:
        parts.append(f"at most **{limits.max_rows:,} rows**")
    if limits.session_hours is not None:
        parts.append(f"your files are kept for **{limits.session_hours:g} hours** after your last visit")
    return f"In this demo: {'; '.join(parts)}." if parts else ""


def model_allowed(limits: UsageLimits, key: str) -> bool:
    return limits.allows_model(key)


def predict_file_note(limits: UsageLimits) -> str:
    """How big a file the Predict tab takes: any size locally (it is read in pieces), on a demo the upload and row
    limits, and how long labelling may take."""
    parts = [f"files up to **{limits.max_upload_mb:g} MB** (upload size limit)"] if limits.max_upload_mb else []
    if limits.max_rows is not None:
        parts.append(f"at most **{limits.max_rows:,} rows**")
    if limits.max_predict_minutes is not None:
        parts.append(f"labelling stops after **{limits.max_predict_minutes:g} minutes**")
    size = f"in this demo {', '.join(parts)}" if parts else "big files are read in pieces, so any size works"
    return (f"#### Label a whole file\nCSV, TSV, JSON lines, Parquet or Excel with a column of texts; {size}. "
            "The predictions CSV is made on this computer.")


def seeds_note(limits: UsageLimits) -> str:
    """The time limit of "Train N times": the runs together are one training (empty without a limit)."""
    if limits.max_train_minutes is None:
        return ""
    return (f" In this demo the runs together stop after **{limits.max_train_minutes:g} minutes**, as one training "
            "does: fewer runs each get more of that time.")


def other_models(limits: UsageLimits, trained: list[str], suggested: tuple[str, ...]) -> list[str]:
    """Of ``suggested`` (registry keys), the short names of those the limits allow and that are not ``trained``."""
    return [find_variant(key).display_name.split(" (")[0] for key in suggested
            if limits.allows_model(key) and key not in trained and find_variant(key) is not None]


def model_note(limits: UsageLimits) -> str:
    notes = []
    if limits.allowed_models is not None:
        names = [find_variant(k).display_name if find_variant(k) else k for k in limits.allowed_models]
        notes.append(f"this demo trains only the small models ({', '.join(names)})")
    if limits.max_train_minutes is not None:
        notes.append(f"a training stops after **{limits.max_train_minutes:g} minutes**")
    if limits.max_batch_tokens is not None:
        notes.append(f"a training step holds at most **{limits.max_batch_tokens:,} tokens** (batch size × maximum "
                     f"length, such as {limits.token_examples()}), so that it fits in memory")
    return f"On a shared CPU {_listed(notes)}. {LIFT_HINT}" if notes else ""


def _listed(parts: list[str]) -> str:
    """'a, b and c'."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def queue_markdown(place: QueuePlace) -> str:
    """What a person whose training waits for its turn reads."""
    return (f"**Waiting for its turn.** {_who(place)}; someone else is training or timing models on this machine. "
            f"Expected wait: about {format_duration(place.expected_wait_s)}. It starts by itself; press Stop to "
            "leave the line.")


def heavy_queue_markdown(place: QueuePlace, what: str) -> str:
    """What a person whose export or file labelling (``what``) waits for its turn reads."""
    return (f"**{what} is waiting for its turn.** {_who(place)}; someone else is exporting a model or labelling a "
            f"file on this machine. Expected wait: about {format_duration(place.expected_wait_s)}. It starts by "
            "itself.")


def _who(place: QueuePlace) -> str:
    ahead = place.place - 1
    return "You are next" if ahead == 0 else f"You are number {place.place} in line ({ahead} ahead of you)"
