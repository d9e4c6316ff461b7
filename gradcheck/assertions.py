"""``assert_gradients``: one call that checks a layer or a model and fails loudly."""

from __future__ import annotations

from typing import Any

from gradcheck.checks import check_layer, check_model
from gradcheck.report import GradcheckError, GradcheckReport
from gradcheck.session.results import nondifferentiable_points, tensors

__all__ = ["assert_gradients"]


def _failure_reasons(report: GradcheckReport, strict: bool) -> list[str]:
    """Why ``report`` fails the assertion; empty when it passes."""
    reasons = []
    failed = tensors(report, "fail")
    if failed:
        reasons.append(f"{len(failed)} of {len(tensors(report))} tensors failed")
    kinks = nondifferentiable_points(report)
    if strict and kinks:
        reasons.append(f"{kinks} nondifferentiable points (strict mode counts them as failures)")
    vacuous = tensors(report, "vacuous")
    if strict and vacuous:
        reasons.append(f"{len(vacuous)} vacuous tensors, whose checks saw only zeros (strict "
                       "mode counts them as failures)")
    return reasons


def assert_gradients(
    target: Any,
    x: Any,
    *,
    loss: Any = None,
    y: Any = None,
    strict: bool = False,
    label: str | None = None,
    **options: Any,
) -> GradcheckReport:
    """Check the gradients of a layer (or of a model under a loss) and raise on failure.

    ``assert_gradients(layer, x)`` runs :func:`gradcheck.check_layer`;
    ``assert_gradients(model, x, loss=loss, y=y)`` runs :func:`gradcheck.check_model`.

    Parameters
    ----------
    target : layer or model
        Anything following the layer protocol (``params``, ``grads``, ``forward``,
        ``backward``).
    x : numpy.ndarray, shape (n, ...)
        Input batch.
    loss : loss, optional
        A loss with ``forward(pred, target)`` and ``backward()``; selects ``check_model``.
    y : numpy.ndarray, optional
        Targets for ``loss``; required exactly when ``loss`` is given.
    strict : bool, default False
        Count nondifferentiable points (kinks) and vacuous tensors (all zeros) as failures.
    label : str, optional
        Names the check in the failure message (the pytest plugin passes the node id).
    **options
        Any option of ``check_layer``/``check_model`` (``mode``, ``method``, ``eps``,
        ``atol``, ``rtol``, ``seed``).

    Returns
    -------
    GradcheckReport
        The report, when the check passes.

    Raises
    ------
    GradcheckError
        The check fails; the message holds the report's table and ``.report`` the report.
    TypeError
        ``loss`` is given without ``y`` or ``y`` without ``loss``.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function
    if (loss is None) != (y is None):
        given, missing = ("loss", "y") if y is None else ("y", "loss")
        raise TypeError(f"assert_gradients got {given}= but not {missing}=; pass both or neither")
    if loss is None:
        report = check_layer(target, x, **options)
    else:
        report = check_model(target, loss, x, y, **options)
    reasons = _failure_reasons(report, strict)
    if reasons:
        where = f" in {label}" if label else ""
        message = f"gradcheck failed{where}: {'; '.join(reasons)}\n{report}"
        raise GradcheckError(message, report)
    return report
