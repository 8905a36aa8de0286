"""``python tests/train/paused_cli.py STEP SIGNALS ARGS``: the ``bertstudio`` command, paused the first time it
reaches ``bertstudio.train.pipeline.STEP`` until the test allows it on.

It writes ``SIGNALS/reached`` there and waits for ``SIGNALS/go``: a second training started meanwhile meets this
one at exactly that point (past its checks, before it writes anything), with no timing to get right.
"""

import functools
import sys
import time
from pathlib import Path

from bertstudio.cli import main
from bertstudio.train import pipeline

WAIT_S = 300


def paused_at(step: str, signals: Path) -> None:
    original = getattr(pipeline, step)
    calls = []

    @functools.wraps(original)
    def paused(*args, **kwargs):
        if not calls:
            calls.append(step)
            (signals / "reached").touch()
            deadline = time.monotonic() + WAIT_S
            while not (signals / "go").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return original(*args, **kwargs)

    setattr(pipeline, step, paused)


if __name__ == "__main__":
    paused_at(sys.argv[1], Path(sys.argv[2]))
    sys.exit(main(sys.argv[3:]))
