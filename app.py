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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from bertstudio.ui.app import build_app, launch_options

    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if auth is not None and len(auth) != 2:
        raise SystemExit("--auth must look like user:password")
    build_app(args.data_dir).launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                                    **launch_options(args.data_dir))


if __name__ == "__main__":
    main()
