"""``python -m logloss.cli``: the same as the ``logloss`` command."""

import sys

from . import main

sys.exit(main())
