"""``python -m dlfs``: the same as the ``dlfs`` console script (see ``dlfs/cli.py``)."""

import sys

from dlfs.cli import main

sys.exit(main())
