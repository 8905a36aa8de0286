"""``python tests/train/lazy_cli.py ARGS``: the ``bertstudio`` command with every training split tokenized as its
batches are drawn (``lazy_tokens``), so a launched multi-process run takes that path on test-sized data."""

import sys

from bertstudio.cli import main
from bertstudio.train import lazy_tokens

if __name__ == "__main__":
    lazy_tokens.LAZY_FROM_ROWS = 1
    sys.exit(main())
