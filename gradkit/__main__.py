"""``python -m gradkit``: the ``gradkit`` command line."""

import sys

from gradkit_cli.main import main

sys.exit(main())
