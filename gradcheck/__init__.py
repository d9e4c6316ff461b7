"""gradcheck: finite-difference gradient checks whose verdicts can be trusted.

``check_layer``, ``check_model`` and ``check_function`` compare analytic gradients with finite
differences, tensor by tensor, and return a :class:`GradcheckReport`.
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
