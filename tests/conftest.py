"""Suite-wide test setup: headless plotting, quiet progress bars, pytester."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

pytest_plugins = ["pytester"]
