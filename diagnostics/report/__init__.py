"""Self-contained HTML training-health reports (``write_report``).

Importing this package pulls in matplotlib, seaborn and Jinja2; ``diagnostics``
imports it lazily so that recording stays cheap.
"""

from .render import write_report

__all__ = ["write_report"]
