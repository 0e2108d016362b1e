"""``python -m infercore._cli``: the ``infercore`` command where its script is not installed."""

import sys

from infercore._cli import main

sys.exit(main())
