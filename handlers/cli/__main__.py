"""``python -m handlers.cli``: the same as the ``servechain`` command."""

import sys

from handlers.cli import main

sys.exit(main())
