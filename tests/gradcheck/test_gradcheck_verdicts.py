"""Verdicts that are never wrong: each failure class of the gradcheck v2 issue, fixed."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import gradcheck.plan
from gradcheck import GradcheckError, assert_gradients, check_layer, check_model
from gradcheck.judge import Verdict
from gradcheck.report import verdict_row
from reference_nets import Dense, MaxPool2D, Sequential
from reference_nets.losses import SoftmaxCrossEntropy
from tests.gradcheck import model_forms
from tests.gradcheck import zoo_layers as z

RNG = np.random.default_rng(21)


def failing(report) -> set[tuple[str, str]]:
    t = report.table[report.table.status == "fail"]
    return set(zip(t.tensor, t.check, strict=True))


class OffDense(Dense):
    """Dense whose weight gradient is ``factor`` times too large."""

    factor = 1.5

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"] * self.factor
        return dx


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


def test_float32_parameters_with_a_float64_input_are_judged_in_float32():
    report = _quiet(check_layer, OffDense(6, 4, dtype=np.float32), RNG.normal(size=(5, 6)))
    assert ("W", "gradient") in failing(report)
    assert report.options["dtype"] == "float32"
    row = report.table.query("tensor == 'W' and check == 'gradient'").iloc[0]
    assert row.max_abs_err > row.tolerance   # never passed above the tolerance shown


@pytest.mark.parametrize(("x_dtype", "w_dtype"), [(np.float32, np.float64),
                                                  (np.float64, np.float32)])
def test_correct_layers_pass_in_either_dtype_mix(x_dtype, w_dtype):
    x = RNG.normal(size=(5, 6)).astype(x_dtype)
    report = _quiet(check_layer, Dense(6, 4, dtype=w_dtype), x)
    assert report.passed, str(report)
    assert report.options["dtype"] == "float32"


def test_upstream_gradient_has_the_output_dtype():
    layer = z.Linear(dtype=np.float32)

    def backward(dy):   # grads come out in dy's dtype, as a float32 layer's naturally do
        assert dy.dtype == np.float32
        layer.grads["W"] = layer.x.T @ dy
        layer.grads["b"] = dy.sum(axis=0)
        return dy @ layer.params["W"].T

    layer.backward = backward
    report = _quiet(check_layer, layer, RNG.normal(size=(5, 4)).astype(np.float32))
    assert report.passed, str(report)
    assert "grad_dtype" not in set(report.table.check)


class DeadBranch(z.Linear):
    """A Dense+ReLU whose units are all dead; its bug (db doubled) hides behind them."""

    def forward(self, x):
        self.pre = super().forward(x)
        return np.maximum(self.pre, 0)

    def backward(self, dy):
        g = dy * (self.pre > 0)
        dx = super().backward(g)
        self.grads["b"] = 2 * g.sum(axis=0)
        return dx


def test_a_check_that_sees_only_zeros_is_vacuous_not_passed():
    layer = DeadBranch()
    layer.params["b"][...] = -100.0   # every unit dead
    report = check_layer(layer, RNG.normal(size=(5, 4)))
    assert set(report.table.status) == {"vacuous"}
    assert report.n_vacuous == 3 and "proved nothing" in report.table.message.iloc[0]
    assert "vacuous" in str(report).splitlines()[0]
    assert_gradients(layer, RNG.normal(size=(5, 4)))   # not a failure by default
    with pytest.raises(GradcheckError, match="vacuous"):
        assert_gradients(layer, RNG.normal(size=(5, 4)), strict=True)


def test_a_vacuous_message_counts_the_values_that_are_not_zero():
    # 99 % zeros make a check vacuous: its message must not claim that all of them are
    almost = Verdict(checked=3200, n_failed=0, n_nondifferentiable=0, n_zero=3176,
                     max_abs_err=0.0, max_rel_err=0.0, worst=0, worst_label="(0, 0)",
                     analytic=0.0, numeric=0.0, tolerance=1e-12, n_blind=3176, largest=1e-3)
    row = verdict_row("0:Tanh", "input", (16, 200), "gradient", almost)
    assert row["status"] == "vacuous"
    assert row["message"].startswith("every checked analytic and numeric value but 24 of "
                                     "3200 is exactly 0: the check proved nothing")
    every = verdict_row("0:Tanh", "input", (16, 200), "gradient",
                        replace(almost, n_zero=3200, n_blind=3200))
    assert every["message"].startswith("every checked analytic and numeric value is exactly 0")


def _tied_images(seed: int) -> np.ndarray:
    """Integer-valued images with a zero background: ties in every overlapping window."""
    images = np.random.default_rng(seed).integers(0, 3, (2, 2, 6, 6)).astype(float)
    images[:, :, :2] = 0.0
    return images


@pytest.mark.parametrize("seed", range(4))
def test_overlapping_max_pool_on_ties_is_never_a_failure(seed):
    for mode in ("auto", "full"):
        report = check_layer(MaxPool2D(2, stride=1), _tied_images(seed), mode=mode, seed=seed)
        assert report.passed, str(report)
        assert report.table.status.iloc[0] == "nondifferentiable"


class FirstMaxOnlyPool(MaxPool2D):
    """Bug: overlapping windows overwrite each other's gradient instead of adding it."""

    def backward(self, dy):
        dx = np.zeros(self._x_shape).reshape(-1)
        dx[self._flat_index.reshape(-1)] = dy.reshape(-1)
        return dx.reshape(self._x_shape)


def test_a_real_bug_in_a_pool_on_ties_is_still_caught():
    report = check_layer(FirstMaxOnlyPool(2, stride=1), _tied_images(0))
    assert not report.passed, str(report)


def test_whole_rows_of_zero_pre_activations_are_kinks_not_failures():
    layer = DeadBranch(4, 3)
    layer.backward = lambda dy: z.Linear.backward(layer, dy * (layer.pre > 0))
    x = RNG.normal(size=(5, 4))
    layer.params["b"][...] = -(x @ layer.params["W"])[0]   # sample 0: every unit at 0
    x[1:] = x[0]                                           # ... and every other sample too
    report = check_layer(layer, x, mode="full")
    assert report.passed, str(report)
    assert "nondifferentiable" in set(report.table.status)


class EpsBatchNorm(z.BatchNorm):
    """Bug: backward takes sqrt(var) + eps where forward takes sqrt(var + eps)."""

    def input_grad(self, g):
        var = (self.std**2 - 1e-5)
        return super().input_grad(g) * self.std / (np.sqrt(var) + 1e-5)


def test_a_relative_error_of_1e_6_is_caught_in_default_mode():
    x = RNG.normal(size=(16, 3)) * 10   # var ~ 100: dx is (1 - 9.5e-7) times the truth
    report = check_layer(EpsBatchNorm(), x)
    assert ("input", "gradient") in failing(report), str(report)
    row = report.table.query("tensor == 'input'").iloc[0]
    assert row.max_rel_err < 3e-6   # the error really is that small
    assert check_layer(z.BatchNorm(), x).passed


class StaleInput(z.Linear):
    """Bug: keeps the first input it ever saw for backward."""

    def forward(self, x):
        if not hasattr(self, "first_x"):
            self.first_x = x.copy()
        self.x = self.first_x
        return x @ self.params["W"] + self.params["b"]


class StaleTranspose(z.Linear):
    """Bug: caches W.T on the first backward and keeps using it."""

    def input_grad(self, dy):
        if not hasattr(self, "wt"):
            self.wt = self.params["W"].T.copy()
        return dy @ self.wt


class InputTransposeKeyedById(z.Linear):
    """Bug: caches x.T keyed on id(x), stale when the caller refills its batch array."""

    key = None

    def forward(self, x):
        if id(x) != self.key:
            self.key, self.xt = id(x), x.T.copy()
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.grads["W"] = self.xt @ dy
        self.grads["b"] = dy.sum(0)
        return dy @ self.params["W"].T


class WeightTransposeKeyedById(z.Linear):
    """Bug: caches W.T keyed on id(W), stale after an in-place optimizer step."""

    key = None

    def input_grad(self, dy):
        w = self.params["W"]
        if id(w) != self.key:
            self.key, self.wt = id(w), w.T.copy()
        return dy @ self.wt


@pytest.mark.parametrize("make", [StaleInput, StaleTranspose, InputTransposeKeyedById,
                                  WeightTransposeKeyedById])
def test_stale_caches_fail_at_the_second_point(make):
    report = check_layer(make(), RNG.normal(size=(5, 4)))
    rows = report.table.query("check == 'second_point'")
    assert (rows.status == "fail").all() and len(rows) >= 1
    assert "cached" in rows.message.iloc[0]
    assert check_layer(make(), RNG.normal(size=(5, 4)), second_point=False).passed


class KeyedByIdFirst(model_forms.Attributes):
    """A model that is not a ``layers`` list (the general path), its first layer keyed by id."""

    def __init__(self):
        super().__init__()
        self.fc1 = InputTransposeKeyedById(4, 5, seed=1)


@pytest.mark.parametrize("second_point", [True, False])
@pytest.mark.parametrize("form, n_in, classes", [
    ("sequential", 16, 12),   # the screen settles every layer: its input copy is refilled
    ("sequential", 16, 2),    # a 2-element bias is checked on its own, after a repeat forward
    ("sequential", 4, 2),     # the screen does not settle the keyed layer
    ("attributes", 4, 2)])    # the general path
def test_a_cache_keyed_on_the_models_input_array_fails(form, n_in, classes, second_point):
    if form == "sequential":
        model, loss = Sequential([InputTransposeKeyedById(n_in, n_in), z.Tanh(),
                                  z.Linear(n_in, classes)]), SoftmaxCrossEntropy()
        y = RNG.integers(0, classes, 6)
    else:
        model, loss, y = KeyedByIdFirst(), z.MSE(), RNG.normal(size=(6, classes))
    report = check_model(model, loss, RNG.normal(size=(6, n_in)), y, second_point=second_point)
    if not second_point:
        assert failing(report) == set()
    elif form == "attributes":   # a second point after the given one
        assert failing(report) == {("W", "second_point")}
    else:   # a chain ran once at a moved point on the array its given point then gets
        assert failing(report) == {("W", "gradient"), ("W", "end_to_end")}
        local = report.table.query("status == 'fail' and check == 'gradient'")
        assert list(local.cause_label) == ["stale_cache"]


class OneWrongElement(z.Linear):
    """Bug: one element of a large dW is off by 1 %."""

    where = (301, 77)

    def weight_grad(self, dy):
        g = super().weight_grad(dy)
        g[self.where] *= 1.01
        return g


def test_one_wrong_element_of_a_262144_element_weight_is_named():
    layer = OneWrongElement(512, 512, seed=2, scale=0.05)
    report = check_layer(layer, RNG.normal(size=(4, 512)), second_point=False)
    row = report.table.query("tensor == 'W'").iloc[0]
    assert row.status == "fail"
    assert row.worst_index.startswith(str(OneWrongElement.where))


class RunningNorm(z.Linear):
    """Stateful: forward updates a running mean and normalises with it."""

    def forward(self, x):
        self.running = getattr(self, "running", np.zeros(x.shape[1])) * 0.9 + 0.1 * x.mean(0)
        return super().forward(x - self.running)


class WritesIntoDy(z.Linear):
    def backward(self, dy):
        dy *= 1.0
        dy += 0.0
        dy[...] = dy * 2
        return super().backward(dy / 2)


class ReturnsNone(z.Linear):
    def backward(self, dy):
        super().backward(dy)


def test_messages_say_what_really_happened():
    stateful = check_layer(RunningNorm(), RNG.normal(size=(5, 4))).table
    assert "updates state" in stateful.query("check == 'determinism'").message.iloc[0]
    assert "running" in stateful.query("check == 'determinism'").message.iloc[0]
    dy_rows = check_layer(WritesIntoDy(), RNG.normal(size=(5, 4))).table
    assert dy_rows.query("check == 'mutation'").tensor.tolist() == ["dy"]
    none = check_layer(ReturnsNone(), RNG.normal(size=(5, 4))).table
    assert "returned None" in none.query("tensor == 'input'").message.iloc[0]
    counts = check_layer(z.OneWrongRow(8, 8), RNG.normal(size=(5, 8))).table
    assert counts.query("tensor == 'W'").message.iloc[0].startswith("8 of 64 checked values")


def test_an_exception_in_the_users_layer_says_which_call_raised_it():
    class Fails(z.Linear):
        def backward(self, dy):
            raise KeyError("cache")

    with pytest.raises(KeyError) as info:
        check_layer(Fails(), RNG.normal(size=(5, 4)))
    assert any("during the backward of Fails" in note for note in info.value.__notes__)


def test_the_html_report_shows_a_vacuous_check_as_a_warning_not_a_pass(tmp_path):
    from diagnostics import write_report

    layer = DeadBranch()
    layer.params["b"][...] = -100.0
    write_report(tmp_path / "check.html", gradcheck=check_layer(layer, RNG.normal(size=(5, 4))))
    page = (tmp_path / "check.html").read_text()
    assert "proved nothing" in page and "vacuous" in page
    assert "Healthy: no problems found" not in page
    assert "<td>passed</td>" not in page   # the run metadata says "vacuous" too


class RebindsParams(z.Linear):
    """Bug: forward replaces params["W"] by a copy (as a max-norm step might), and backward
    is wrong: the perturbations of the original array would go unseen."""

    def forward(self, x):
        self.params["W"] = self.params["W"].copy()
        return super().forward(x)

    def input_grad(self, dy):
        return 3 * super().input_grad(dy)


class StepsInBackward(z.Linear):
    """Bug: backward also takes an optimizer step."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.params["W"] -= 0.1 * self.grads["W"]
        return dx


@pytest.mark.parametrize("make", [RebindsParams, StepsInBackward])
def test_a_layer_that_changes_its_parameters_fails_and_is_restored(make):
    layer = make()
    original = layer.params["W"]
    values = original.copy()
    layer.count = 0
    report = check_layer(layer, RNG.normal(size=(5, 4)))
    assert "params_changed" in set(report.table.check), str(report)
    assert not report.passed
    assert layer.params["W"] is original and np.array_equal(original, values)
    assert layer.count == 0   # plain attributes are restored too


def test_complex_step_does_not_pass_a_wrong_gradient():
    report = check_layer(z.DoubleInputGrad(), RNG.normal(size=(5, 4)), method="complex_step")
    assert ("input", "gradient") in failing(report), str(report)


def test_bad_vjp_returns_and_nan_grads_are_rows_not_tracebacks():
    from gradcheck import check_function

    a, b = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))

    def f(u, v):
        return np.tanh(u) * v

    for vjp, problem in [(lambda inputs, G: None, "missing_grad"),
                         (lambda inputs, G: (G * b, None), "missing_grad"),
                         (lambda inputs, G: G * a, "grad_shape"),
                         (lambda inputs, G: (np.ones((4, 2)), G), "grad_shape")]:
        for mode in ("auto", "full"):
            report = check_function(f, vjp, (a, b), mode=mode)
            assert not report.passed and problem in set(report.table.check), str(report)

    class NanGrad(z.Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"][0, 0] = np.nan
            return dx

    table = check_layer(NanGrad(), RNG.normal(size=(5, 4))).table
    assert "non_finite_grad" in set(table.check)
    assert "linearity" not in set(table.check) and "accumulation" not in set(table.check)


def test_a_zero_size_parameter_is_skipped_and_an_output_that_changes_shape_is_named():
    layer = z.Linear()
    layer.params["empty"], layer.grads["empty"] = np.zeros((0, 4)), np.zeros((0, 4))
    assert check_layer(layer, RNG.normal(size=(5, 4))).passed

    class ShapeShifter(z.Linear):
        def forward(self, x):
            y = super().forward(x)
            return y if np.array_equal(self.params["W"], self.w0) else y[:, :1]

    shifter = ShapeShifter()
    shifter.w0 = shifter.params["W"].copy()
    with pytest.raises(ValueError, match="output's shape must not depend"):
        check_layer(shifter, RNG.normal(size=(5, 4)))


@pytest.mark.parametrize("method", ["central", "forward", "richardson"])
def test_kinks_are_nondifferentiable_with_every_two_sided_or_refined_method(method):
    x = np.array([[0.0, 1.0, -2.0, 0.0], [0.0, -1.0, 3.0, 0.5]])   # ReLU at its zeros
    report = check_layer(z.ReLU(), x, mode="full", method=method)
    assert report.passed and report.table.status.iloc[0] == "nondifferentiable", str(report)
    assert not check_layer(z.MeanBias(), RNG.normal(size=(5, 4)), method=method).passed


def test_accumulation_is_named_whatever_the_grads_held_before():
    layer = z.Accumulating()
    layer.grads["W"][...] = 5.0   # left over from a training step
    report = check_layer(layer, RNG.normal(size=(5, 4)))
    assert report.table.query("check == 'accumulation'").tensor.tolist() == ["W"]
    assert "linearity" not in set(report.table.check)
    assert np.all(layer.grads["W"] == 5.0)   # and the grads are put back


class Offset:
    """y = 2 x + c: a large constant offset makes the whole output's round-off large."""

    def __init__(self, c, factor):
        self.params, self.grads, self.c, self.factor = {}, {}, c, factor

    def forward(self, x):
        return 2 * x + self.c

    def backward(self, dy):
        return 2 * dy * self.factor


@pytest.mark.parametrize(("c", "factor"), [(1e8, 2.0), (1e6, 1.01)])
def test_a_large_output_offset_does_not_hide_a_wrong_gradient(c, factor):
    x = RNG.normal(size=(50, 20))
    assert not check_layer(Offset(c, factor), x).passed
    assert check_layer(Offset(c, 1.0), x).passed


class ScaledTanh:
    """tanh whose dx is ``factor`` times the true one."""

    def __init__(self, factor):
        self.params, self.grads, self.factor = {}, {}, factor

    def forward(self, x):
        self.x = x
        return np.tanh(x)

    def backward(self, dy):
        return dy * (1 - np.tanh(self.x) ** 2) * self.factor


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("factor", [1.02, 0.97])
def test_float32_errors_of_two_percent_are_caught_in_large_tensors(seed, factor):
    # a random direction over a 512-value float32 output resolves only 1.5-20 % (its
    # round-off is the whole output's); one that does not resolve 1 % is backed by elements
    # read back from their own output slices (before: 2 % in dW missed at every seed)
    x = RNG.normal(size=(16, 32)).astype(np.float32)
    assert not _quiet(check_layer, ScaledTanh(factor), x, seed=seed).passed
    layer = OffDense(300, 20, dtype=np.float32)
    layer.factor = factor
    assert not _quiet(check_layer, layer, RNG.normal(size=(16, 300)).astype(np.float32),
                      seed=seed).passed
    assert _quiet(check_layer, ScaledTanh(1.0), x, seed=seed).passed


def _verdict(abs_err, rel_err, tolerance, n_failed=0):
    from gradcheck.judge import Verdict
    return Verdict(checked=12, n_failed=n_failed, n_nondifferentiable=0, n_zero=0,
                   max_abs_err=abs_err, max_rel_err=rel_err, worst=0, worst_label="(0,)",
                   analytic=1.0, numeric=1.0, tolerance=tolerance)


@pytest.mark.parametrize(("first", "note"), [
    (_verdict(1e-13, 1e-13, 1e-9), "cached"),               # exact at the given point: stale
    (_verdict(9e-4, 5e-4, 1e-3), "limit of what the dtype"),  # as wrong, just within tolerance
])
def test_the_second_points_note_tells_a_stale_cache_from_an_error_at_the_resolution_limit(
        first, note):
    from gradcheck.engine import Tensor
    from gradcheck.layer_check import second_point_verdict_rows
    from gradcheck.point import Point
    point = Point("L", (Tensor("input", np.zeros(12)),), lambda: None, np.zeros(1), np.zeros(1),
                  {}, 0.0)
    rows = second_point_verdict_rows(point, {"input": (first,)},
                                     {"input": (_verdict(1e-3, 5e-4, 6e-4, n_failed=1),)}, [])
    assert [r["status"] for r in rows] == ["fail"] and note in rows[0]["message"]


class OneElementOff(z.Linear):
    """Bug: the largest element of dW is ``1 + error`` times too large."""

    error = 1.0

    def weight_grad(self, dy):
        grad = super().weight_grad(dy)
        where = np.unravel_index(np.abs(grad).argmax(), grad.shape)
        grad[where] *= 1 + self.error
        return grad


@pytest.mark.parametrize("dtype, offset, error", [(np.float32, 0.0, 1.0),
                                                  (np.float64, 1e4, 1e-3)])
def test_one_wrong_element_is_caught_where_directions_are_too_coarse(dtype, offset, error):
    # a 256 x 64 weight in float32, or beside a bias of 1e4 in float64: its directions
    # resolve too little to mean a pass, and 64 sampled elements missed the wrong one
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 256)).astype(dtype)
    make = {True: OneElementOff, False: z.Linear}
    reports = {}
    for wrong in (True, False):
        layer = make[wrong](256, 64, seed=4, dtype=dtype)
        layer.error = error
        layer.params["b"][:] = offset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the float32 warning
            reports[wrong] = check_layer(layer, x, second_point=False)
    row = reports[True].table.set_index("tensor").loc["W"]
    assert row.status == "fail" and row.checked == 256 * 64, str(reports[True])
    assert row.message.startswith("1 of 16384 checked values disagree")
    assert reports[False].passed, str(reports[False])


class OneElementWildlyOff(z.Linear):
    """Bug: element (10, 20) of dW is off by 30 % of the norm of dW (about 150 times its
    own size in a 512 x 512 weight)."""

    def weight_grad(self, dy):
        grad = super().weight_grad(dy)
        grad[10, 20] += 0.3 * np.linalg.norm(grad)
        return grad


def _float32_wide(seed: int):
    rng = np.random.default_rng(seed)
    layer = OneElementWildlyOff(512, 512, seed=1, dtype=np.float32, scale=512 ** -0.5)
    return layer, rng.normal(size=(16, 512)).astype(np.float32)


@pytest.mark.filterwarnings("ignore:check_layer. checking in float32")
@pytest.mark.parametrize("seed", [0, 2])
def test_one_wrong_element_of_a_large_float32_weight_is_named(seed):
    # float32 directions over 262,144 elements are too coarse to see it (vacuous, or passing
    # at a quarter of their tolerance), and a sample of 64 elements missed it: every element
    # is checked (512 groups of independent columns)
    row = check_layer(*_float32_wide(seed)).table.set_index("tensor").loc["W"]
    assert row.status == "fail" and row.worst_index == "(10, 20)", row.to_dict()


@pytest.mark.filterwarnings("ignore:check_layer. checking in float32")
def test_a_failed_joint_direction_no_tensor_explains_fails_once_a_fresh_one_fails(monkeypatch):
    # as if the weight's elements could not all be checked and their sample missed the wrong
    # one: the joint direction over input and W failed, and a fresh one fails too
    monkeypatch.setattr(gradcheck.plan, "_backed",
                        lambda point, name, s, progress, details, directions, **_: directions)
    table = check_layer(*_float32_wide(5), second_point=False, likely_cause=False).table
    failed = table.query("status == 'fail'")
    assert set(failed.tensor) <= {"input", "W"} and len(failed), str(table)
    assert failed.worst_index.str.startswith("joint direction").all()
