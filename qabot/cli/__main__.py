"""``python -m qabot.cli``."""

import sys

from qabot.cli.main import main

sys.exit(main())
