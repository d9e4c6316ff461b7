"""numpy's global random state read raw (words and cached Gaussian) is the state get_state
gives; a check leaves it as found also where it cannot be read raw."""

from __future__ import annotations

import numpy as np
import pytest

import gradcheck.global_random as global_random
from gradcheck import check_layer
from tests.gradcheck.test_gradcheck_inputs import _DrawsFromNumpysGlobalRandom


@pytest.mark.parametrize("draws", [0, 1, 2, 3, 700])   # 700: past a refill of the 624 words
def test_the_raw_state_is_the_state_numpy_gives(draws):
    np.random.seed(11)  # noqa: NPY002
    for i in range(draws):
        (np.random.randn if i % 2 else np.random.rand)()
    raw, expected = global_random._raw_state(), np.random.get_state()  # noqa: NPY002
    assert raw is not None   # numpy's own MT19937: readable raw
    state = global_random._legacy_state(raw)
    assert state[0] == expected[0] and np.array_equal(state[1], expected[1])
    assert state[2:] == tuple(expected[2:])


@pytest.mark.parametrize("readable", [True, False])
@pytest.mark.parametrize("cached_gaussian", [False, True])
def test_a_check_leaves_the_global_state_as_found_read_raw_or_not(monkeypatch, readable,
                                                                 cached_gaussian):
    if not readable:
        monkeypatch.setattr(global_random, "_gauss_offset", lambda: None)
    np.random.seed(5)  # noqa: NPY002
    if cached_gaussian:
        np.random.randn()  # noqa: NPY002  (draws a pair: one Gaussian stays cached)
    state = np.random.get_state()  # noqa: NPY002
    draw = np.random.randn
    check_layer(_DrawsFromNumpysGlobalRandom(draw), np.ones((4, 3)))
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], state[1]) and after[2:] == state[2:]
