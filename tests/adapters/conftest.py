"""Shared setup of the adapter tests: the float32 advice warning is the checker's (tested
with the core), so it is silenced here."""

import warnings

import pytest


@pytest.fixture(autouse=True)
def _quiet_float32():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "check_layer: checking in float32")
        yield
