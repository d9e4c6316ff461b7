"""``assert_gradients``: one call that checks a layer or a model and fails loudly."""

from __future__ import annotations

import sys
from typing import Any

from gradcheck.checks import check_function, check_layer, check_model
from gradcheck.report import GradcheckError, GradcheckReport
from gradcheck.session.results import nondifferentiable_points, tensors

__all__ = ["assert_gradients"]


def _check(target, inputs: tuple, loss, y, vjp, options: dict) -> GradcheckReport:
    """The check ``assert_gradients`` runs for these arguments."""
    if not inputs:
        raise TypeError("assert_gradients needs the input(s) after the target, e.g. "
                        "gradcheck(layer, x) or gradcheck(layer, a, b)")
    if (loss is None) != (y is None):
        given, missing = ("loss", "y") if y is None else ("y", "loss")
        raise TypeError(f"assert_gradients got {given}= but not {missing}=; pass both or neither")
    if vjp is not None:
        if loss is not None:
            raise TypeError("assert_gradients got vjp= and loss=: a function (vjp) or a model "
                            "(loss, y), not both")
        return check_function(target, vjp, inputs if len(inputs) > 1 else inputs[0], **options)
    if loss is not None:
        if len(inputs) != 1:
            raise TypeError(f"assert_gradients got {len(inputs)} inputs for a model; a model "
                            "takes one batch x")
        return check_model(target, loss, inputs[0], y, **options)
    if _is_torch(target):
        from gradcheck.adapters.torch import check_torch
        return check_torch(target, *inputs, **options)
    return check_layer(target, *inputs, **options)


def _is_torch(target) -> bool:
    """A ``torch.nn.Module`` or ``torch.autograd.Function`` subclass (torch already loaded:
    anything of torch's was made with it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(target, torch.nn.Module) or (
        isinstance(target, type) and issubclass(target, torch.autograd.Function))


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
    *inputs: Any,
    loss: Any = None,
    y: Any = None,
    vjp: Any = None,
    strict: bool = False,
    label: str | None = None,
    **options: Any,
) -> GradcheckReport:
    """Check the gradients of a layer, a model under a loss, torch code or a function, and
    raise on failure.

    ``assert_gradients(layer, x)`` and ``assert_gradients(layer, a, b)`` (several inputs,
    integer inputs, a dict of keyword inputs, an :func:`gradcheck.adapt` wrapper, a
    ``TorchLayer``/``JaxLayer``) run :func:`gradcheck.check_layer`; a ``torch.nn.Module`` or
    a ``torch.autograd.Function`` subclass runs
    :func:`gradcheck.adapters.torch.check_torch`; ``assert_gradients(model, x, loss=loss,
    y=y)`` runs :func:`gradcheck.check_model` (any model that holds its layers);
    ``assert_gradients(f, *inputs, vjp=vjp)`` runs :func:`gradcheck.check_function`.

    Parameters
    ----------
    target : layer, model, torch module or Function, or function
    *inputs : numpy.ndarray (or one dict of them)
        The input(s); one batch ``x`` of shape (n, ...) for a model.
    loss : loss, optional
        A loss with ``forward(pred, target)`` and ``backward()``; selects ``check_model``.
    y : numpy.ndarray, optional
        Targets for ``loss``; required exactly when ``loss`` is given.
    vjp : callable, optional
        ``vjp(inputs, G) -> grads`` of the function ``target``; selects ``check_function``.
    strict : bool, default False
        Count nondifferentiable points (kinks) and vacuous tensors (all zeros) as failures.
    label : str, optional
        Names the check in the failure message (the pytest plugin passes the node id).
    **options
        Any option of the check (``mode``, ``method``, ``eps``, ``atol``, ``rtol``,
        ``seed``, ...).

    Returns
    -------
    GradcheckReport
        The report, when the check passes.

    Raises
    ------
    GradcheckError
        The check fails; the message holds the report's table and ``.report`` the report.
    TypeError
        No input, ``loss`` without ``y`` or ``y`` without ``loss``, several inputs for a
        model, or ``vjp`` together with ``loss``.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this function
    report = _check(target, inputs, loss, y, vjp, options)
    reasons = _failure_reasons(report, strict)
    if reasons:
        where = f" in {label}" if label else ""
        message = f"gradcheck failed{where}: {'; '.join(reasons)}\n{report}"
        raise GradcheckError(message, report)
    return report
