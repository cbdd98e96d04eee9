"""``python -m simcse.cli``: the ``simcse`` command (what ``torchrun -m simcse.cli`` runs)."""

import sys

from simcse.cli import main

sys.exit(main())
