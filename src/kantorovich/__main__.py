"""`python -m kantorovich ...` is the same as the `kantorovich` command."""

import sys

from .cli import main

sys.exit(main())
