"""``bertstudio runs list|show|compare|delete`` and ``bertstudio report``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bertstudio.benchmark.report import load_records
from bertstudio.benchmark.records import BenchRecord
from bertstudio.cli_args import Command, check_writable_file
from bertstudio.errors import UserError
from bertstudio.evaluation.multilabel_metrics import accuracy_name
from bertstudio.history.compare import compare_runs, model_comparison
from bertstudio.history.records import RunRecord, accuracy_text, delete_run, find_run, list_runs, score_text
from bertstudio.history.report import check_run_to_report, write_report

DEFAULT_ROOT = "runs"


def _score(value: float | None) -> str:
    """A score as the app and the training's own lines write it: "81.4%"."""
    return "-" if value is None else score_text(value)


def _accuracy(value: float | None, multi_label: bool) -> str:
    """The accuracy cell: "71.4% (exact match)" for a run with several labels per text."""
    return "-" if value is None else accuracy_text(value, multi_label)


def exact_match_note(multi_label: Sequence[bool]) -> list[str]:
    """The line under a table that lists a multi-label run's accuracy."""
    if not any(multi_label):
        return []
    return ["exact match: with several labels per text, the share of texts whose labels are all right."]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _bench(path: str | None) -> list[BenchRecord]:
    if not path:
        return []
    try:
        return load_records(path)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"Could not read the benchmark results {path}: {err}",
                        "Pass the JSON file `bertstudio bench --out FILE` wrote.") from None


RUN_HEADER = ("run", "started", "status", "model", "data", "accuracy", "macro-F1", "simple", "seconds")
NUMBER_COLUMNS = frozenset({"accuracy", "macro-F1", "validation", "simple", "seconds"})


def _run_cells(record: RunRecord) -> list[str]:
    data = f"{record.data_name} ({record.fingerprint.short})" if record.fingerprint else record.data_name or "-"
    return [record.name, record.created, record.status, record.model or "-", data,
            _accuracy(record.accuracy, record.multi_label),
            _score(record.macro_f1), _score(record.simple_model_macro_f1), _seconds(record.train_seconds)]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A header line and one line per row, each column as wide as its widest cell: names are never cut (the
    model column once read "MiniLM-L6 (bundled, al"); numbers are aligned on the right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).rjust(w) if name in NUMBER_COLUMNS else str(c).ljust(w)
                         for name, c, w in zip(header, cells, widths)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _as_json(record: RunRecord) -> dict:
    return {"name": record.name, "path": str(record.path), "status": record.status, "created": record.created,
            "model": record.model, "preset": record.preset, "data": record.data_name,
            "fingerprint": record.fingerprint.sha256 if record.fingerprint else None, "settings": record.settings,
            "accuracy": record.accuracy, "macro_f1": record.macro_f1, "train_seconds": record.train_seconds,
            "simple_model_macro_f1": record.simple_model_macro_f1, "multi_label": record.multi_label,
            "message": record.message}


def run_list(args: argparse.Namespace) -> int:
    _check_root(args.root)
    records = list_runs(args.root)
    if not records:
        print(f"No runs in {args.root}.")
    else:
        print("\n".join(_table(RUN_HEADER, [_run_cells(r) for r in records])
                        + exact_match_note([r.multi_label for r in records])))
    rows = model_comparison(records, _bench(args.benchmark))
    if len(rows) > 1:
        print("\nModels on the newest run's data (best run of each):")
        for row in rows:
            latency = f"{row.latency_ms:.1f} ms ({row.latency_setting})" if row.latency_ms is not None else "not measured"
            print(f"  {row.model:<24} {accuracy_name(row.multi_label)} {_score(row.accuracy)}  macro-F1 "
                  f"{_score(row.macro_f1)}  latency {latency}")
    print(json.dumps([_as_json(r) for r in records]))
    return 0


def _check_root(root: str) -> None:
    """A mistyped --root is said as such ('No runs in nope.' read as if the folder held none)."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise UserError(f"{root} is a file, not a folder of runs." if folder.exists()
                        else f"The folder {root} does not exist.",
                        "Give the folder the runs are in with --root (train's --runs-dir; default: runs).")


def run_show(args: argparse.Namespace) -> int:
    record = find_run(args.root, args.name)
    print("\n".join(_table(RUN_HEADER, [_run_cells(record)]) + exact_match_note([record.multi_label])))
    if record.message:
        print(record.message)
    for key, value in sorted(record.config.items()):
        if key not in ("decisions", "label_names", "data_sizes"):
            print(f"  {key}: {value}")
    print(json.dumps(_as_json(record)))
    return 0


COMPARE_HEADER = ("run", "model", "status", "accuracy", "macro-F1", "validation", "simple", "seconds")


def run_compare(args: argparse.Namespace) -> int:
    if len(args.name) < 2:  # compare_runs' own hint speaks of the app's list ("Tick two or more runs")
        raise UserError(f"Only one run was named ({args.name[0]}); a comparison needs two or more.",
                        f"Name them all, for example `bertstudio runs compare {args.name[0]} OTHER_RUN`; "
                        "`bertstudio runs list` shows the runs.")
    comparison = compare_runs([find_run(args.root, name) for name in args.name])
    if not comparison.same_data:
        print("Note: these runs were not trained on the same data file, so their scores do not compare directly.")
    rows = [[row.run, row.model or "-", row.status, _accuracy(row.accuracy, row.multi_label), _score(row.macro_f1),
             _score(row.validation_macro_f1), _score(row.simple_model_macro_f1), _seconds(row.train_seconds)]
            for row in comparison.metrics]
    print("\n".join(_table(COMPARE_HEADER, rows) + exact_match_note([r.multi_label for r in comparison.metrics])))
    print("Settings that differ:" if comparison.settings else "Same settings.")
    for diff in comparison.settings:
        print(f"  {diff.name}: " + " | ".join(str(v) for v in diff.values))
    if comparison.per_class.labels:
        print("F1 per class:")
        for label in comparison.per_class.labels:
            print(f"  {label:<20} " + "  ".join(_score(comparison.per_class.f1[r.name].get(label)).rjust(6)
                                                 for r in comparison.runs))
    print(json.dumps({"runs": [r.name for r in comparison.runs], "same_data": comparison.same_data,
                      "differ": {d.name: d.values for d in comparison.settings}}, default=str))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    record = find_run(args.root, args.name)
    if not args.yes:
        raise UserError(f"Deleting {record.name} removes its model and every file of it for good.",
                        "Add --yes to delete it.")
    delete_run(record, args.root)
    print(f"Deleted {record.path}")
    return 0


ACTIONS = {"list": run_list, "show": run_show, "compare": run_compare, "delete": run_delete}


def _root_option(p: argparse.ArgumentParser, default) -> None:
    # --runs-dir as `bertstudio train` spells it; accepted before the action and after it (`runs list --root X`).
    p.add_argument("--root", "--runs-dir", dest="root", default=default,
                   help="The folder holding the runs (default: runs; the same folder as train's --runs-dir).")


def _add_runs(p: argparse.ArgumentParser) -> None:
    _root_option(p, DEFAULT_ROOT)
    actions = p.add_subparsers(dest="action", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help)
        _root_option(sub, argparse.SUPPRESS)  # given here it wins; not given, the one before the action stands
        return sub

    listing = action("list", "Every run with its status, data, model and scores.")
    listing.add_argument("--benchmark", help="Benchmark results (JSON) for the models' latency.")
    action("show", "One run's status and every setting.").add_argument(
        "name", metavar="RUN", help="The run to show: its folder name as `bertstudio runs list` shows it, or its path.")
    action("compare", "Two or more runs side by side.").add_argument(
        "name", metavar="RUN", nargs="+", help="The runs to compare: folder names or paths.")
    delete = action("delete", "Delete a run folder for good.")
    delete.add_argument("name", metavar="RUN",
                        help="The run to delete: its folder name as `bertstudio runs list` shows it, or its path.")
    delete.add_argument("--yes", action="store_true", help="Really delete it.")


def run_runs(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="A run folder.")
    p.add_argument("--out", help="Where to write the HTML file (default: RUN/report.html).")
    p.add_argument("--benchmark", help="Benchmark results (JSON) for the latency section.")


def run_report(args: argparse.Namespace) -> int:
    check_run_to_report(args.run_dir)
    if args.out:
        check_writable_file(args.out, "--out", "report.html")
    path = write_report(args.run_dir, args.out, bench=_bench(args.benchmark))
    print(f"Saved {path}")
    print(json.dumps({"report": str(path)}))
    return 0


COMMANDS: Sequence[Command] = (
    Command("runs", "Run history: list, show, compare or delete the runs of a folder.", _add_runs, run_runs),
    Command("report", "Write a self-contained HTML report of a run, to send to a colleague.", _add_report,
            run_report),
)
