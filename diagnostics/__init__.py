"""Training diagnostics for hand-written backpropagation.

``Monitor`` is a training hook recording gradient, weight and update norms,
activation statistics, non-finite values and the loss; ``Monitor.findings()``
turns the records into actionable findings. ``lr_range_test`` and
``lr_sensitivity`` probe learning rates. ``GradcheckHook`` checks the gradients at chosen
points of training. ``write_report`` renders everything as one HTML page and
``diagnostics.plots`` returns its figures for notebooks (both imported lazily, so
``import diagnostics`` stays cheap). ``Findings`` is the findings DataFrame that prints
and renders its messages in full.
"""

from diagnostics.call_order import HookOrderError
from diagnostics.findings_frame import Findings
from diagnostics.gradcheck_hook import GradcheckHook
from diagnostics.hooks import HOOK_METHODS, Monitor, call_hooks
from diagnostics.lr import LRRangeResult, LRSensitivityResult, lr_range_test, lr_sensitivity
from diagnostics.nonfinite import NonFiniteError

__all__ = ["HOOK_METHODS", "Findings", "GradcheckHook", "HookOrderError", "LRRangeResult",
           "LRSensitivityResult", "Monitor", "NonFiniteError", "call_hooks", "lr_range_test",
           "lr_sensitivity", "plots", "write_report"]


def __getattr__(name):
    if name == "write_report":
        from diagnostics.report import write_report

        return write_report
    if name == "plots":
        import diagnostics.plots

        return diagnostics.plots
    raise AttributeError(f"module 'diagnostics' has no attribute {name!r}")
