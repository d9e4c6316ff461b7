"""The JAX adapter: custom_vjp rules checked through jax.vjp, right and wrong, float32 by
default and float64 without flipping JAX's global configuration."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is needed for the JAX adapter "
                                        "(pip install 'gradkit[jax]')")
jnp = pytest.importorskip("jax.numpy")

from gradcheck import GradcheckError, check_model  # noqa: E402
from gradcheck.adapters.jax import JaxLayer, check_jax  # noqa: E402
from reference_nets import Tanh  # noqa: E402
from reference_nets.losses import MSE  # noqa: E402
from reference_nets.model import Sequential  # noqa: E402
from tests.adapters.points import DTYPES, gradient_rows, normal  # noqa: E402


def with_vjp(f, bwd):
    """``f`` with the custom rule ``bwd(inputs, dy) -> tuple of gradients``."""
    op = jax.custom_vjp(f)
    op.defvjp(lambda *args: (f(*args), args), bwd)
    return op


softplus = with_vjp(lambda x: jnp.logaddexp(x, 0.0), lambda r, g: (g * jax.nn.sigmoid(r[0]),))
softplus_off = with_vjp(lambda x: jnp.logaddexp(x, 0.0),   # 1 % too large
                        lambda r, g: (1.01 * g * jax.nn.sigmoid(r[0]),))
relu = with_vjp(lambda x: jnp.maximum(x, 0.0), lambda r, g: (g * (r[0] > 0),))
matmul = with_vjp(lambda x, w: x @ w, lambda r, g: (g @ r[1].T, r[0].T @ g))
matmul_second_off = with_vjp(lambda x, w: x @ w,   # the second input's gradient 2 % off
                             lambda r, g: (g @ r[1].T, 1.02 * (r[0].T @ g)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_correct_custom_vjp_passes_in_its_dtype_and_the_config_is_left_alone(dtype):
    x64 = jax.config.jax_enable_x64
    report = check_jax(softplus, normal(dtype=dtype), mode="full")
    assert report.passed, str(report)
    assert report.options["dtype"] == np.dtype(dtype).name
    assert jax.config.jax_enable_x64 == x64


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_wrong_custom_vjp_fails(dtype):
    row = gradient_rows(check_jax(softplus_off, normal(dtype=dtype), name="softplus"))["input"]
    assert (row["layer"], row["status"]) == ("softplus", "fail")
    assert row["worst_index"].startswith("(")   # an element, not a direction


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_at_zero_is_nondifferentiable(dtype):
    x = normal(dtype=dtype)
    x[0, :2] = 0.0
    report = check_jax(relu, x, mode="full", name="relu")
    row = gradient_rows(report)["input"]
    assert report.passed and row["status"] == "nondifferentiable", str(report)
    assert row["layer"] == "relu" and row["worst_index"].startswith("(0, ")


@pytest.mark.parametrize("dtype", DTYPES)
def test_only_the_wrong_input_of_two_fails(dtype):
    x, w = normal((6, 5), dtype), normal((5, 3), dtype, seed=1)
    assert check_jax(matmul, x, w).passed
    rows = gradient_rows(check_jax(matmul_second_off, x, w))
    assert (rows["input0"]["status"], rows["input1"]["status"]) == ("pass", "fail")


def test_params_are_checked_and_the_callers_arrays_untouched():
    rng = np.random.default_rng(2)
    params = {"W": rng.normal(size=(5, 3)), "b": rng.normal(size=3)}
    kept = {k: v.copy() for k, v in params.items()}

    def dense(p, x):
        return jnp.tanh(x @ p["W"] + p["b"])

    report = check_jax(dense, normal(), params=params)
    assert report.passed, str(report)
    assert set(gradient_rows(report)) == {"input", "W", "b"}
    assert all(np.array_equal(params[k], kept[k]) for k in params)
    layer = JaxLayer(dense, params=params)
    assert layer.params["W"] is not params["W"]


def test_an_integer_input_is_a_constant_and_two_outputs_are_checked():
    def gather_both(table, ids):
        rows = table[ids]
        return jnp.sin(rows), rows.sum(-1)

    report = check_jax(gather_both, normal((5, 3)), np.array([4, 0, 0, 2]))
    assert report.passed, str(report)
    assert [r["status"] for r in report.rows if r["tensor"] == "input1"] == ["constant"]


def test_a_bwd_rule_of_the_wrong_shape_is_a_row_naming_the_input():
    bad = with_vjp(lambda x, w: x @ w, lambda r, g: (g @ r[1].T, (r[0].T @ g)[0]))
    report = check_jax(bad, normal((6, 5)), normal((5, 3)), name="bad")
    (row,) = report.rows
    assert (row["tensor"], row["check"], row["shape"]) == ("input1", "grad_shape", (5, 3))
    assert "during the backward of bad" in row["message"]
    with pytest.raises(GradcheckError, match="output\\[1\\]"):
        report.raise_for_failure()
    short = with_vjp(lambda x, w: x @ w, lambda r, g: (g @ r[1].T,))
    (row,) = check_jax(short, normal((6, 5)), normal((5, 3))).rows
    assert row["check"] == "grad_count"


def test_bad_arguments_get_clear_errors():
    with pytest.raises(TypeError, match="f must be a callable"):
        JaxLayer(3)
    with pytest.raises(TypeError, match="params must be a dict"):
        JaxLayer(softplus, params=[1.0])


def test_the_wrapper_works_inside_a_model():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 3))
    params = {"W": rng.normal(size=(5, 3)), "b": rng.normal(size=3)}
    model = Sequential([JaxLayer(lambda p, a: a @ p["W"] + p["b"], params=params,
                                 name="affine"), Tanh()])
    report = check_model(model, MSE(), x, y)
    assert report.passed, str(report)
    assert {"W", "b"} <= set(report.table.tensor)
