"""``python -m ds201_lab1.grade SUBMISSIONS OUT [-j N] [--timeout S] [--force]``."""

import sys

from .cli import main

sys.exit(main())
