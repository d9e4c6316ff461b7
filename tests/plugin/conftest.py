"""Fixtures for the plugin tests: a pytester project holding the custom test layers."""

from pathlib import Path

import pytest

# Imported here so they are in the snapshot pytester takes before each in-process run:
# modules first imported inside such a run are dropped from sys.modules after it, and
# numpy's extension modules cannot be loaded a second time by later tests.
import diagnostics.atomic  # noqa: F401  (the output paths' check; brings pandas)
import gradcheck.checks  # noqa: F401

LAYERS_SOURCE = Path(__file__).with_name("plugin_layers.py").read_text()


@pytest.fixture
def layer_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project whose tests can ``from plugin_layers import Scale, Abs, batch``."""
    pytester.makepyfile(plugin_layers=LAYERS_SOURCE)
    pytester.syspathinsert()
    return pytester
