"""Shared data for the diagnostics tests."""

import pytest


@pytest.fixture(scope="session")
def digits():
    """The digits split (needs scikit-learn, the test extra)."""
    pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn")
    from reference_nets.data import load_digits

    return load_digits()
