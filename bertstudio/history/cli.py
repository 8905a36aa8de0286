"""``bertstudio runs list|show|compare|delete`` and ``bertstudio report``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from bertstudio.benchmark.report import load_records
from bertstudio.benchmark.records import BenchRecord
from bertstudio.cli_args import Command
from bertstudio.errors import UserError
from bertstudio.history.compare import compare_runs, model_comparison
from bertstudio.history.records import RunRecord, delete_run, find_run, list_runs
from bertstudio.history.report import write_report

DEFAULT_ROOT = "runs"


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _bench(path: str | None) -> list[BenchRecord]:
    if not path:
        return []
    try:
        return load_records(path)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"Could not read the benchmark results {path}: {err}",
                        "Pass the JSON file `bertstudio benchmark --json FILE` wrote.") from None


def _line(record: RunRecord) -> str:
    data = f"{record.data_name} ({record.fingerprint.short})" if record.fingerprint else record.data_name or "-"
    return (f"{record.name:<44} {record.created:<16} {record.status:<11} {record.model[:22]:<22} {data[:34]:<34} "
            f"acc {_fmt(record.accuracy)}  F1 {_fmt(record.macro_f1)}  simple {_fmt(record.simple_model_macro_f1)}  "
            f"{_fmt(record.train_seconds, 0)} s")


def _as_json(record: RunRecord) -> dict:
    return {"name": record.name, "path": str(record.path), "status": record.status, "created": record.created,
            "model": record.model, "preset": record.preset, "data": record.data_name,
            "fingerprint": record.fingerprint.sha256 if record.fingerprint else None, "settings": record.settings,
            "accuracy": record.accuracy, "macro_f1": record.macro_f1, "train_seconds": record.train_seconds,
            "simple_model_macro_f1": record.simple_model_macro_f1, "message": record.message}


def run_list(args: argparse.Namespace) -> int:
    records = list_runs(args.root)
    if not records:
        print(f"No runs in {args.root}.")
    for record in records:
        print(_line(record))
    rows = model_comparison(records, _bench(args.benchmark))
    if len(rows) > 1:
        print("\nModels on the newest run's data (best run of each):")
        for row in rows:
            latency = f"{row.latency_ms:.1f} ms ({row.latency_setting})" if row.latency_ms is not None else "not measured"
            print(f"  {row.model:<24} accuracy {_fmt(row.accuracy)}  macro-F1 {_fmt(row.macro_f1)}  latency {latency}")
    print(json.dumps([_as_json(r) for r in records]))
    return 0


def run_show(args: argparse.Namespace) -> int:
    record = find_run(args.root, args.name)
    print(_line(record))
    if record.message:
        print(record.message)
    for key, value in sorted(record.config.items()):
        if key not in ("decisions", "label_names", "data_sizes"):
            print(f"  {key}: {value}")
    print(json.dumps(_as_json(record)))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    comparison = compare_runs([find_run(args.root, name) for name in args.name])
    if not comparison.same_data:
        print("Note: these runs were not trained on the same data file, so their scores do not compare directly.")
    for row in comparison.metrics:
        print(f"{row.run:<44} {row.model[:22]:<22} {row.status:<11} accuracy {_fmt(row.accuracy)}  "
              f"macro-F1 {_fmt(row.macro_f1)}  validation {_fmt(row.validation_macro_f1)}  "
              f"simple {_fmt(row.simple_model_macro_f1)}  {_fmt(row.train_seconds, 0)} s")
    print("Settings that differ:" if comparison.settings else "Same settings.")
    for diff in comparison.settings:
        print(f"  {diff.name}: " + " | ".join(str(v) for v in diff.values))
    if comparison.per_class.labels:
        print("F1 per class:")
        for label in comparison.per_class.labels:
            print(f"  {label:<20} " + "  ".join(_fmt(comparison.per_class.f1[r.name].get(label))
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


def _add_runs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=DEFAULT_ROOT, help="The folder holding the runs (default: runs).")
    actions = p.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="Every run with its status, data, model and scores.")
    listing.add_argument("--benchmark", help="Benchmark results (JSON) for the models' latency.")
    actions.add_parser("show", help="One run's status and every setting.").add_argument("name", metavar="RUN")
    actions.add_parser("compare", help="Two or more runs side by side.").add_argument("name", metavar="RUN", nargs="+")
    delete = actions.add_parser("delete", help="Delete a run folder for good.")
    delete.add_argument("name", metavar="RUN")
    delete.add_argument("--yes", action="store_true", help="Really delete it.")


def run_runs(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="A run folder.")
    p.add_argument("--out", help="Where to write the HTML file (default: RUN/report.html).")
    p.add_argument("--benchmark", help="Benchmark results (JSON) for the latency section.")


def run_report(args: argparse.Namespace) -> int:
    path = write_report(args.run_dir, args.out, bench=_bench(args.benchmark))
    print(f"Saved {path}")
    print(json.dumps({"report": str(path)}))
    return 0


COMMANDS: Sequence[Command] = (
    Command("runs", "Run history: list, show, compare or delete the runs of a folder.", _add_runs, run_runs),
    Command("report", "Write a self-contained HTML report of a run, to send to a colleague.", _add_report,
            run_report),
)
