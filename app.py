"""Start BERT Studio in the browser: ``python app.py`` (also the Hugging Face Spaces entry point)."""

from __future__ import annotations

import argparse
import os


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    on_spaces = bool(os.environ.get("SPACE_ID"))
    parser = argparse.ArgumentParser(description="BERT Studio: train a text classifier from a spreadsheet.")
    parser.add_argument("--host", default="0.0.0.0" if on_spaces else "127.0.0.1",
                        help="Address to listen on (0.0.0.0 makes the app reachable from other computers).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)), help="Port to listen on.")
    parser.add_argument("--share", action="store_true", help="Also open a temporary public link.")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="Ask for this user name and password.")
    parser.add_argument("--data-dir", default="~/.bertstudio", help="Where uploads, runs and exports are kept.")
    parser.add_argument("--demo", action="store_true",
                        help="Public-demo limits (on by default on a Hugging Face Space): 50 MB uploads, 20,000 rows, "
                             "small models, training steps of at most 16,384 tokens, 10 minutes per training, 2 GB of "
                             "files per visitor, deleted after 24 h; see docs/SPACES.md.")
    parser.add_argument("--settings", metavar="FILE.json",
                        help="Change any limit, e.g. {\"max_rows\": 50000, \"training_slots\": 2} (docs/SPACES.md).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from bertstudio.errors import UserError
    from bertstudio.limits import load_limits
    from bertstudio.ui.app import build_app, launch_options

    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if auth is not None and len(auth) != 2:
        raise SystemExit("--auth must look like user:password")
    try:
        limits = load_limits(demo=args.demo, settings_file=args.settings)
    except UserError as err:
        raise SystemExit(str(err)) from None
    build_app(args.data_dir, limits).launch(server_name=args.host, server_port=args.port, share=args.share,
                                            **launch_options(args.data_dir, limits, auth=auth))


if __name__ == "__main__":
    main()
