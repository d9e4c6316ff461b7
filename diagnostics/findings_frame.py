"""``Findings``: the findings DataFrame, shown whole in a terminal and in a notebook.

A plain DataFrame cuts long messages (``print(monitor.findings())`` ends them in "...");
this subclass prints one block per finding with the full message wrapped, and renders
as an HTML table with severity colours in Jupyter. It is still a ``pandas.DataFrame``:
filtering, ``head`` and ``to_dict`` work as usual (and keep the class).
"""

from __future__ import annotations

import textwrap

import pandas as pd

__all__ = ["Findings"]

WIDTH = 100


class Findings(pd.DataFrame):
    """Findings ``severity, check, layer, message`` (a pandas.DataFrame subclass)."""

    @property
    def _constructor(self):
        return Findings

    def __str__(self) -> str:
        """A header, then one block per finding: ``severity  check  layer`` aligned, then
        the full message wrapped and indented."""
        if not {"severity", "check", "layer", "message"} <= set(self.columns):
            return pd.DataFrame.__repr__(self)
        if self.empty:
            return "no findings"
        width = max(len("check"), *(len(str(c)) for c in self["check"]))
        lines = [f"{'severity':<8}  {'check':<{width}}  layer: message"]
        for row in self.itertuples(index=False):
            lines.append(f"{row.severity:<8}  {row.check:<{width}}  {row.layer}")
            lines.append(textwrap.fill(str(row.message), WIDTH, initial_indent="    ",
                                       subsequent_indent="    "))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """An HTML table with a coloured severity badge and full messages."""
        from diagnostics.notebook_html import findings_html

        return findings_html(self)
