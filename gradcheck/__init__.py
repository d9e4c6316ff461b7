"""gradcheck: finite-difference gradient checks whose verdicts can be trusted.

``check_layer``, ``check_model`` and ``check_function`` compare analytic gradients with finite
differences, tensor by tensor, and return a :class:`GradcheckReport` (``.passed``, ``.table``,
``str()``, ``.raise_for_failure()``). An element passes when
``|analytic - numeric| <= atol + rtol * max|numeric over the tensor| + round-off``
(:mod:`gradcheck.compare`); kinks get the status ``"nondifferentiable"``, protocol problems
(mutated input, randomness, missing/mis-shaped grads, accumulation, non-linear backward) are
``"fail"`` rows with a message. ``numerical_gradient`` gives the raw finite differences.

Modules: ``finite_diff`` (stencils, steps), ``perturb`` (exact in-place perturbation, grouped
evaluation), ``sampling`` (modes), ``compare`` (tolerances, verdicts), ``protocol`` (protocol
checks), ``tensorcheck`` (one tensor), ``chain``/``downstream`` (models), ``checks`` (the
public entry points), ``report``.
"""

from gradcheck.assertions import assert_gradients
from gradcheck.checks import check_function, check_layer, check_model
from gradcheck.compare import TOLERANCES
from gradcheck.finite_diff import numerical_gradient
from gradcheck.report import GradcheckError, GradcheckReport

__all__ = [
    "TOLERANCES",
    "GradcheckError",
    "GradcheckReport",
    "assert_gradients",
    "check_function",
    "check_layer",
    "check_model",
    "numerical_gradient",
]
