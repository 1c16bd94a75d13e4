"""``python -m crm …``: see :mod:`crm.cli`."""

import sys

from crm.cli import main

sys.exit(main())
