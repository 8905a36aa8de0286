"""``bertstudio predict`` and ``bertstudio serve``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from bertstudio.cli_args import Command, add_config_flags, check_writable_folder, port_number, positive_int
from bertstudio.predict.files import (
    DEFAULT_CHUNK_ROWS,
    PredictFileResult,
    estimate_rows,
    open_prediction_files,
    predict_file,
)
from bertstudio.predict.locate import BACKENDS
from bertstudio.predict.predictor import DEFAULT_BATCH_SIZE, Predictor, find_model, load_predictor
from bertstudio.predict.serve import DEFAULT_HOST, DEFAULT_PORT, Limits, check_port_free, is_loopback, serve


# Only predict can use the model of an unfinished run; export and serve refuse it without naming this flag.
ALLOW_UNFINISHED_HINT = "--allow-unfinished uses the model it holds anyway, labelled as unfinished."


def _add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="A run folder, its model/ folder, or an export folder.")
    p.add_argument("--data", required=True, help="File with the texts (CSV, TSV, JSON lines, Parquet or Excel).")
    p.add_argument("--out", required=True, help="Where to write the predictions (CSV: text, label, confidence, "
                   "a probability per class, then the file's other columns; the file's own 'label' column becomes "
                   "'label_in_file'). With several labels per text: 'label' holds the labels found, joined by "
                   "'; ', or '(no label)' when none applies; 'confidence' is that of the least certain label "
                   "decision (each label is a yes or no of its own); the file's own 0/1 label columns become "
                   "NAME_in_file.")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="What runs the model (auto: PyTorch if its weights are there, in bf16 when the run trained "
                        "in bf16 and this machine computes it fast; else the export found).")
    p.add_argument("--text", dest="text_column", help="Column holding the text (default: as in training).")
    p.add_argument("--text-pair", dest="text_pair_column", help="Column holding the second text, for pair models.")
    add_config_flags(p, ("sheet",))  # train's --sheet: a workbook's sheet is chosen the same way
    p.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                   help=f"Texts per model call (default: {DEFAULT_BATCH_SIZE}).")
    p.add_argument("--allow-unfinished", action="store_true",
                   help="Use the model of a run that has not finished (interrupted or failed), labelled as such.")
    p.add_argument("--chunk-rows", type=positive_int, default=DEFAULT_CHUNK_ROWS,
                   help=f"Rows read and written at a time (bounds memory on huge files; default: "
                        f"{DEFAULT_CHUNK_ROWS:,}).")


def run_predict(args: argparse.Namespace) -> int:
    model = find_model(args.model_dir, allow_unfinished=args.allow_unfinished, unfinished_anyway=ALLOW_UNFINISHED_HINT)
    # Said before the model is loaded: a missing --data, or an --out that cannot be written (a PermissionError
    # traceback once), was told only after loading it and showing an empty progress bar.
    source = open_prediction_files(args.data, args.out, args.sheet)
    check_writable_folder(Path(args.out).expanduser().parent, "--out", given=args.out)
    predictor = load_predictor(model, backend=args.backend, batch_size=args.batch_size)
    print(predictor.describe(), file=sys.stderr)

    with rows_progress(estimate_rows(source.file)) as progress:
        result = predict_file(predictor, source, args.out, text_column=args.text_column,
                              text_pair_column=args.text_pair_column, chunk_rows=args.chunk_rows,
                              on_progress=progress)
    for note in result.notes:  # how the file was read, as inspect says it
        print(note.to_text(), file=sys.stderr)
    print(result.describe(), file=sys.stderr)
    print(json.dumps(summary_line(predictor, result)))
    return 0


@contextlib.contextmanager
def rows_progress(total: int | None) -> Iterator[Callable[[int], None]]:
    """A bar on stderr for a file's rows: done, of about how many, how fast and how long is left (the count of a
    CSV is its lines, an upper bound when texts hold line breaks; Excel gives none, and the bar counts up)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit=" rows", desc="Predicting", file=sys.stderr, dynamic_ncols=True)

    def advance(rows_done: int) -> None:
        bar.update(rows_done - bar.n)

    try:
        yield advance
    finally:
        bar.close()


def summary_line(predictor: Predictor, result: PredictFileResult) -> dict:
    """The JSON summary, whose notes begin with what is said of the model (UNFINISHED, an export passed over): a
    script that reads only this line must learn it too, not only the console."""
    summary = result.to_dict()
    summary["notes"] = [*predictor.model_notes, *summary["notes"]]
    return summary


def _add_serve(p: argparse.ArgumentParser) -> None:
    defaults = Limits()
    p.add_argument("model_dir", help="A run folder, its model/ folder, or an export folder.")
    p.add_argument("--host", default=DEFAULT_HOST, help="Address to listen on (default: this computer only).")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                   help=f"Port to listen on, 1-65535 (default: {DEFAULT_PORT}).")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="What runs the model (as for predict).")
    p.add_argument("--max-texts", type=positive_int, default=defaults.max_texts,
                   help=f"Most texts per request (default: {defaults.max_texts}).")
    p.add_argument("--max-body-bytes", type=positive_int, default=defaults.max_body_bytes,
                   help=f"Largest request body, in bytes (default: {defaults.max_body_bytes:,}).")
    p.add_argument("--max-text-chars", type=positive_int, default=defaults.max_text_chars,
                   help=f"Longest text accepted, in characters (default: {defaults.max_text_chars:,}, the most "
                        "training reads of a text).")


def run_serve(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model_dir, backend=args.backend)
    limits = Limits(max_body_bytes=args.max_body_bytes, max_texts=args.max_texts,
                    max_text_chars=args.max_text_chars)
    print(predictor.describe(), file=sys.stderr)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: other computers on the network can send requests. "
              "Use --host 127.0.0.1 to keep it on this computer.", file=sys.stderr)
    check_port_free(args.host, args.port)  # after loading the model, so the port is as free as can be checked
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Serving on http://{shown_host}:{args.port} (POST /predict, GET /info, docs at /docs); "
          "Ctrl+C stops.", file=sys.stderr, flush=True)
    serve(predictor, args.host, args.port, limits)
    return 0


COMMANDS = (
    Command('predict', 'Predict the label of every row of a file with a trained model.',
            _add_predict, run_predict),
    Command('serve', 'Serve a trained model over HTTP: POST /predict, GET /health, GET /info.',
            _add_serve, run_serve),
)
