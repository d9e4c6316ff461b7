"""A view of another layer whose ``training`` flag is that layer's (adapters, several-input
views, block views).

It lives apart from :mod:`gradcheck.adapt` so that importing the checker does not import the
module ``gradcheck.adapt``: the import system would then bind that module to the package's
``adapt`` attribute, and ``from gradcheck import adapt`` would give the module, not the
function.
"""

from __future__ import annotations

__all__ = ["Wrapper"]


class Wrapper:
    """A view of another layer (``self.layer``) whose ``training`` flag is that layer's, so
    eval mode (the likely cause's reruns) reaches the layer itself."""

    layer: object

    @property
    def training(self):
        return getattr(self.layer, "training", None)

    @training.setter
    def training(self, value):
        self.layer.training = value
