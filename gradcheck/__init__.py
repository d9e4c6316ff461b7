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
checks), ``tensorcheck`` (one tensor), ``joint`` (one balanced direction over a layer's
tensors), ``chain``/``downstream`` (models), ``checks`` (the public entry points), ``report``.
"""

import importlib

# Names load on first use, so that the pytest plugin (``gradcheck.pytest_plugin``, loaded in
# every pytest session through the pytest11 entry point) does not import numpy and the
# checking engine just because ``gradcheck`` is its parent package.
_EXPORTS = {
    "TOLERANCES": "gradcheck.compare",
    "GradcheckError": "gradcheck.report",
    "GradcheckReport": "gradcheck.report",
    "assert_gradients": "gradcheck.assertions",
    "check_function": "gradcheck.checks",
    "check_layer": "gradcheck.checks",
    "check_model": "gradcheck.checks",
    "numerical_gradient": "gradcheck.finite_diff",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """Import an exported name from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
