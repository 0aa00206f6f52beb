"""``python -m study``: the same as the ``dlfs`` console script (see ``study/cli.py``)."""

import sys

from study.cli import main

sys.exit(main())
