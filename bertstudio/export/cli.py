"""``bertstudio export``: a trained model as Hugging Face, ONNX, ONNX INT8 or TorchScript folders."""

from __future__ import annotations

import argparse
import json
import sys

from bertstudio.cli_args import Command, check_writable_folder, non_negative_int
from bertstudio.export.card import describe_export
from bertstudio.export.core import DEFAULT_VALIDATION_ROWS, FORMAT_CHOICES, export_run
from bertstudio.leftovers import remove_leftovers


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="A run folder (with model/ inside) or a model folder.")
    p.add_argument("--format", default="all", metavar="|".join(FORMAT_CHOICES),
                   help="What to export (default: all); several formats: separate with commas, e.g. onnx,onnx-int8.")
    p.add_argument("--out", help="Folder for the exports; each format goes in its own subfolder "
                                 "(default: RUN_DIR/exports).")
    p.add_argument("--rows", type=non_negative_int, default=DEFAULT_VALIDATION_ROWS,
                   help="Validation rows used to check each export against the trained model (0: all).")
    p.add_argument("--push-to-hub", metavar="USER/NAME", help="Upload the Hugging Face export to this Hub repo.")
    p.add_argument("--token-env", default="HF_TOKEN",
                   help="Environment variable holding the Hub token (the token is never saved or printed).")
    p.add_argument("--public", action="store_true", help="Make the Hub repo public (default: private).")


def run_export(args: argparse.Namespace) -> int:
    def show(result) -> None:
        print(describe_export(result), flush=True)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr, flush=True)

    remove_leftovers([args.run_dir, args.out])  # half-built exports of killed processes
    if args.out:  # said before the model is loaded and exported: a file there ended in a NotADirectoryError
        check_writable_folder(args.out, "--out")
    results = export_run(args.run_dir, args.format, args.out, max_rows=args.rows or None,
                         push_to_hub=args.push_to_hub, token_env=args.token_env, private=not args.public,
                         on_result=show)
    print(json.dumps([r.to_dict() for r in results]))
    return 0


COMMANDS = (
    Command('export', 'Export a trained model as Hugging Face, ONNX, ONNX INT8 or TorchScript, checked for parity.',
            _add_export, run_export),
)
