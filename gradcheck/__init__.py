"""gradcheck: finite-difference gradient checks whose verdicts can be trusted.

``check_layer``, ``check_model`` and ``check_function`` compare analytic gradients with finite
differences, tensor by tensor, and return a :class:`GradcheckReport` (``.passed``, ``.table``,
``str()``, ``.raise_for_failure()``). A value passes when its error is within the tolerance
floor plus round-off plus the estimated error of its own finite difference
(:mod:`gradcheck.judge`); kinks get the status ``"nondifferentiable"``, all-zero checks
``"vacuous"``; protocol problems (mutated input, randomness or state, missing/mis-shaped grads,
accumulation, non-linear backward) are ``"fail"`` rows with a message.

The pipeline: a target at a point (``point``, ``layer_point``, ``function_check``,
``model_check`` with ``model_walk`` and ``rest_of_model``), protocol ``probes``, a ``plan``
of values per tensor (``selection``, ``value_sets``, ``joint_direction``), the one ``engine``
(perturb, evaluate, restore; ``grouping`` of independent elements), ``measure`` (first
offsets, then half steps where unsettled; ``finite_diff``; ``parallel`` runs the same
measurements on joblib workers for ``n_jobs``), the ``judge``, then ``report``.
``settings`` resolves options and dtype rules, ``restore`` leaves the user's objects as found
(``global_random``: numpy's global random state).
Several inputs and outputs and integer inputs (``several_inputs``: the inputs shown to the
engine as parameters), buffers (``"constant"`` rows), and ``adapt`` for other conventions.
"""

import importlib

# Names load on first use, so that the pytest plugin (``gradcheck.pytest_plugin``, loaded in
# every pytest session through the pytest11 entry point) does not import numpy and the
# checking engine just because ``gradcheck`` is its parent package.
_EXPORTS = {
    "TOLERANCES": "gradcheck.settings",
    "Adapted": "gradcheck.conventions",
    "adapt": "gradcheck.conventions",
    "GradcheckError": "gradcheck.report",
    "GradcheckReport": "gradcheck.report",
    "assert_gradients": "gradcheck.assertions",
    "check_function": "gradcheck.checks",
    "check_layer": "gradcheck.checks",
    "check_model": "gradcheck.checks",
    "numerical_gradient": "gradcheck.engine",
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
