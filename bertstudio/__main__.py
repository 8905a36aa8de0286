"""``python -m bertstudio`` (and ``accelerate launch -m bertstudio``) runs the CLI."""

import sys

from bertstudio.cli import main

sys.exit(main())
