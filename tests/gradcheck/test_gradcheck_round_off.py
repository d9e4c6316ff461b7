"""Checks the dtype's round-off cannot resolve: never a pass over a wrong gradient.

A float32 layer fed inputs of 1e-6, or with an output offset of 1e4, changes its objective
by less than float32 resolves at the step the checker takes: before, the tolerance rose above
the gradient itself and a sign-flipped gradient passed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradcheck import check_layer
from tests.gradcheck import zoo_layers as z


class Flipped(z.Linear):
    """Affine layer whose ``flip`` gradient ("input" or "W") has the wrong sign."""

    def __init__(self, *args, flip="input", **kwargs):
        super().__init__(*args, **kwargs)
        self.flip = flip

    def weight_grad(self, dy):
        return -super().weight_grad(dy) if self.flip == "W" else super().weight_grad(dy)

    def input_grad(self, dy):
        return -super().input_grad(dy) if self.flip == "input" else super().input_grad(dy)


def _table(layer, x, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the float32 warning
        return check_layer(layer, x, seed=seed).table.set_index("tensor")


def _tiny_input(seed, scale=1e-6):
    return (scale * np.random.default_rng(seed).normal(size=(4, 32))).astype(np.float32)


def _offset_layer(flip, seed, offset=1e4):
    layer = Flipped(32, 8, seed=seed, dtype=np.float32, flip=flip)
    layer.params["b"][:] = offset
    return layer


CASES = {   # name: (layer with its `flip` gradient wrong, input, the wrong tensor)
    "tiny input, dx flipped": (lambda s: Flipped(32, 8, seed=s, dtype=np.float32),
                               _tiny_input, "input"),
    "offset 1e4, dx flipped": (lambda s: _offset_layer("input", s),
                               lambda s: np.random.default_rng(s).normal(
                                   size=(4, 32)).astype(np.float32), "input"),
    "offset 1e5, dW flipped": (lambda s: _offset_layer("W", s, 1e5),
                               lambda s: np.random.default_rng(s).normal(
                                   size=(4, 32)).astype(np.float32), "W"),
}


def _case_table(case: str, seed: int, wrong: bool):
    """The report table of ``CASES[case]`` at ``seed``, its gradient flipped when ``wrong``;
    and the name of the tensor it flips."""
    make, data, flipped = CASES[case]
    layer = make(seed)
    layer.flip = flipped if wrong else None
    return _table(layer, data(seed)), flipped


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", list(CASES))
def test_a_wrong_gradient_the_round_off_swamps_is_never_passed(case, seed):
    table, wrong = _case_table(case, seed, wrong=True)
    row = table.loc[wrong]
    assert row.status in ("fail", "vacuous"), row
    if row.status == "vacuous":
        assert "cannot resolve" in row.message


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", list(CASES))
def test_the_correct_layer_is_never_failed(case, seed):
    table, _ = _case_table(case, seed, wrong=False)
    assert not (table.status == "fail").any()


def test_the_session_headline_says_why_the_check_proved_nothing():
    from gradcheck.session.headline import row_headline

    layer = Flipped(32, 8, dtype=np.float32, flip="input")
    # inputs of 1e-10: even the largest grown step (gradcheck.step_growth) cannot resolve dx
    table = _table(layer, _tiny_input(0, scale=1e-10))
    row = table.reset_index().query("status == 'vacuous'").iloc[0].to_dict()
    assert "cannot resolve its values (the check proved nothing)" in row_headline(row)
