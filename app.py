"""Start BERT Studio in the browser: ``python app.py`` (also the Hugging Face Spaces entry point)."""

from __future__ import annotations

import argparse
import os
import sys

from bertstudio.cli_args import OneLineParser, check_writable_folder, port_number
from bertstudio.errors import ConfigError, UserError

DEFAULT_PORT = "7860"
DEFAULT_DATA_DIR = "~/.bertstudio"
EXIT_USER_ERROR = 2  # as the bertstudio command: a refusal is one "error:" line on stderr and exit 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_spaces = bool(os.environ.get("SPACE_ID"))
    # One line for a bad flag, as the bertstudio command (argparse printed the usage above it).
    parser = OneLineParser(description="BERT Studio: train a text classifier from a spreadsheet.")
    parser.add_argument("--host", default="0.0.0.0" if on_spaces else "127.0.0.1",
                        help="Address to listen on (0.0.0.0 makes the app reachable from other computers; default: "
                             "this computer only, 0.0.0.0 on a Hugging Face Space).")
    # The range is checked as `bertstudio serve` checks it: --port 99999 ended in an OverflowError traceback.
    parser.add_argument("--port", type=port_number, default=os.environ.get("PORT", DEFAULT_PORT),
                        help=f"Port to listen on, 1-65535 (default: {DEFAULT_PORT}, or $PORT when set).")
    parser.add_argument("--share", action="store_true", help="Also open a temporary public link.")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="Ask for this user name and password.")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help=f"Where uploads, runs and exports are kept (default: {DEFAULT_DATA_DIR}).")
    parser.add_argument("--demo", action="store_true",
                        help="Public-demo limits (on by default on a Hugging Face Space): 50 MB uploads, 20,000 rows, "
                             "small models, training steps of at most 16,384 tokens, 10 minutes per training, 2 GB of "
                             "files per visitor, deleted after 24 h; see docs/SPACES.md.")
    parser.add_argument("--settings", metavar="FILE.json",
                        help="Change any limit, e.g. {\"max_rows\": 50000, \"training_slots\": 2} (docs/SPACES.md).")
    return parser.parse_args(argv)


def login_pair(auth: str | None) -> tuple[str, str] | None:
    """--auth user:password as the pair Gradio asks for."""
    if auth is None:
        return None
    user, colon, password = auth.partition(":")
    if not (colon and user and password):  # the value is not repeated: it may be a password
        raise ConfigError("--auth needs a user name and a password.", "Write it as user:password.")
    return user, password


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        auth = login_pair(args.auth)
        # Said before Gradio starts: a file given as the folder ended in a FileExistsError traceback.
        check_writable_folder(args.data_dir, "--data-dir")
        from bertstudio.limits import load_limits

        limits = load_limits(demo=args.demo, settings_file=args.settings)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    from bertstudio.ui.app import build_app, launch_options

    build_app(args.data_dir, limits).launch(server_name=args.host, server_port=args.port, share=args.share,
                                            **launch_options(args.data_dir, limits, auth=auth))


if __name__ == "__main__":
    main()
