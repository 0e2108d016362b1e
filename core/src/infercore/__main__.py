"""``python -m infercore``: the ``infercore`` command (``torchrun -m infercore`` runs it too)."""

import sys

from infercore._cli import main

sys.exit(main())
