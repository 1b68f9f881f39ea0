"""``python -m mlfactory`` is the ``mlfactory`` command."""

import sys

from mlfactory.cli import main

sys.exit(main())
