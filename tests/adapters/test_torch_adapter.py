"""The torch adapter: custom Functions and modules checked in their own dtype, bugs named
with their tensor and element, kinks not failures, protocol problems and errors as rows,
the user's module, tensors and random state left exactly as found."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is needed for the torch adapter "
                                            "(pip install 'gradkit[torch]')")

from gradcheck import GradcheckError, check_model  # noqa: E402
from gradcheck.adapters.torch import TorchLayer, check_torch  # noqa: E402
from reference_nets import Tanh  # noqa: E402
from reference_nets.losses import MSE  # noqa: E402
from reference_nets.model import Sequential  # noqa: E402
from tests.adapters import torch_ops as ops  # noqa: E402
from tests.adapters.points import DTYPES, gradient_rows, normal  # noqa: E402


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["auto", "full"])
def test_a_correct_function_passes_in_its_own_dtype_and_is_named(dtype, mode):
    report = check_torch(ops.Softplus, normal(dtype=dtype), mode=mode)
    assert report.passed, str(report)
    assert report.options["dtype"] == np.dtype(dtype).name
    assert gradient_rows(report)["input"]["layer"] == "Softplus"
    assert check_torch(ops.Softplus, normal(dtype=dtype), name="sp").rows[0]["layer"] == "sp"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", [ops.Relu, ops.Abs], ids=lambda f: f.__name__)
def test_a_kink_at_zero_is_nondifferentiable_not_a_failure(fn, dtype):
    x = normal(dtype=dtype)
    x[1, :3] = 0.0
    report = check_torch(fn, x, mode="full")
    row = gradient_rows(report)["input"]
    assert report.passed, str(report)
    assert row["status"] == "nondifferentiable"
    assert row["worst_index"].startswith("(1, ")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_wrong_row_is_named(dtype):
    report = check_torch(ops.SoftplusRow, normal(dtype=dtype))
    row = gradient_rows(report)["input"]
    assert row["status"] == "fail"
    assert row["worst_index"].startswith("(2, ")
    n_failed = int(row["message"].split(" of 30 checked values disagree")[0])
    assert 1 <= n_failed <= 5   # at most row 2's five elements (float32 may miss a tiny one)


@pytest.mark.parametrize("dtype", DTYPES)
def test_module_parameter_gradients_are_checked_and_the_wrong_element_named(dtype):
    good = ops.CustomLinear(5, 4, dtype=getattr(torch, np.dtype(dtype).name))
    report = check_torch(good, normal(dtype=dtype))
    assert report.passed, str(report)
    assert set(gradient_rows(report)) == {"input", "weight", "bias"}
    bad = ops.CustomLinear(5, 4, fn=ops.LinearBiasBug, dtype=good.weight.dtype)
    rows = gradient_rows(check_torch(bad, normal(dtype=dtype)))
    assert rows["bias"]["status"] == "fail" and rows["bias"]["worst_index"] == "(1,)"
    assert rows["weight"]["status"] == "pass" and rows["input"]["status"] == "pass"


def test_params_share_memory_with_the_module():
    module = ops.CustomLinear(3, 2)
    layer = TorchLayer(module)
    layer.params["weight"][0, 0] = 7.0
    assert module.weight[0, 0].item() == 7.0
    assert layer.grads["weight"].shape == (2, 3) and not layer.buffers
    norm = torch.nn.BatchNorm1d(3).double()
    buffers = TorchLayer(norm).buffers
    assert set(buffers) == {"running_mean", "running_var", "num_batches_tracked"}
    buffers["running_mean"][1] = 2.0
    assert norm.running_mean[1].item() == 2.0


def test_module_parameters_buffers_grads_and_torch_random_state_are_left_exactly():
    module = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Dropout(0.3),
                                 torch.nn.BatchNorm1d(4)).double()   # training mode
    state = {k: v.clone() for k, v in module.state_dict().items()}
    rng_state = torch.get_rng_state()
    report = check_torch(module, normal(), torch_seed=3)
    assert report.passed, str(report)
    assert all(torch.equal(state[k], v) for k, v in module.state_dict().items())
    assert torch.equal(rng_state, torch.get_rng_state())
    assert all(p.grad is None for p in module.parameters())


def test_a_random_module_without_a_seed_fails_determinism():
    module = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Dropout(0.5)).double()
    report = check_torch(module, normal())
    assert [r["check"] for r in report.rows if r["status"] == "fail"] == ["determinism"]


def test_inputs_given_as_tensors_are_never_changed():
    x = torch.from_numpy(normal()).requires_grad_()
    kept = x.detach().clone()
    assert check_torch(ops.Softplus, x).passed
    assert torch.equal(x.detach(), kept) and x.grad is None


def test_protocol_problems_of_a_custom_function_aregradient_rows():
    def nonlinear_backward(ctx, dy):
        return dy * dy.abs()

    report = check_torch(ops.function("Squared", lambda ctx, x: x * 1.0, nonlinear_backward),
                         normal())
    assert "linearity" in {r["check"] for r in report.rows if r["status"] == "fail"}

    def mutating_forward(ctx, x):
        x.mul_(2.0)
        return x * 1.0

    mutates = ops.function("Mutates", mutating_forward, lambda ctx, dy: 2 * dy)
    report = check_torch(mutates, normal())
    assert "mutation" in {r["check"] for r in report.rows if r["status"] == "fail"}


def test_a_backward_returning_the_wrong_shape_is_a_row_naming_the_call():
    fn = ops.function("Summed", lambda ctx, x: 3 * x, lambda ctx, dy: (3 * dy).sum(0))
    report = check_torch(fn, normal())
    (row,) = report.rows
    assert (row["layer"], row["tensor"], row["check"], row["status"]) == \
        ("Summed", "input", "grad_shape", "fail")
    assert "during the backward of Summed" in row["message"]
    assert "invalid gradient at index 0" in row["message"]
    with pytest.raises(GradcheckError, match="backward of Summed"):
        report.raise_for_failure()


def test_an_in_place_op_on_an_input_is_a_mutation_row():
    (row,) = check_torch(lambda x: x.mul_(2.0), normal(), name="inplace").rows
    assert (row["layer"], row["check"]) == ("inplace", "mutation")
    assert "the first forward of inplace" in row["message"]


def test_bad_arguments_get_clear_errors():
    with pytest.raises(TypeError, match=r"fn must be a torch\.nn\.Module"):
        TorchLayer(3)
    with pytest.raises(TypeError, match="torch_seed must be an int"):
        TorchLayer(ops.Softplus, torch_seed="0")
    with pytest.raises(ValueError, match="mode must be one of"):
        check_torch(ops.Softplus, normal(), mode="everything")
    with pytest.raises(TypeError, match="bfloat16"):
        TorchLayer(torch.nn.Linear(2, 2).to(torch.bfloat16))


def test_the_wrapper_works_inside_a_model():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5)), rng.normal(size=(6, 4))
    good = Sequential([TorchLayer(ops.CustomLinear(5, 4), name="fc"), Tanh()])
    assert check_model(good, MSE(), x, y).passed
    bad = Sequential([TorchLayer(ops.CustomLinear(5, 4, fn=ops.LinearBiasBug)), Tanh()])
    failing = {(r["layer"], r["tensor"]) for r in check_model(bad, MSE(), x, y).rows
               if r["status"] == "fail"}
    assert ("0:CustomLinear", "bias") in failing   # rows use the wrapped name
    assert not any(tensor in ("weight", "input") for _, tensor in failing)


def test_an_integer_index_input_is_a_constant_never_changed():
    ids = np.array([0, 3, 3, 1])
    report = check_torch(ops.Gather, normal((5, 3)), ids)
    assert report.passed, str(report)
    assert [r["status"] for r in report.rows if r["tensor"] == "input1"] == ["constant"]
    assert set(gradient_rows(report)) == {"input0"}
    np.testing.assert_array_equal(ids, [0, 3, 3, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_outputs_each_get_their_upstream_gradient(dtype):
    assert check_torch(ops.SinCos, normal(dtype=dtype)).passed
    rows = gradient_rows(check_torch(ops.SinCosFirstOnly, normal(dtype=dtype)))
    assert rows["input"]["status"] == "fail"


def test_a_wrong_shape_for_the_second_input_names_it():
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        return dy @ w, (dy.T @ x)[0]

    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w.T

    (row,) = check_torch(ops.function("BadShape", forward, backward), normal(), normal((4, 5))).rows
    assert (row["tensor"], row["check"], row["shape"]) == ("input1", "grad_shape", (4, 5))
