"""The custom-Function zoo of ``bench/gradcheck_torch.py``, asserted: gradkit's default check
fails every wrong Function on exactly the wrong input (and, where the bug is confined to some
rows, names an element of one), passes every correct one in float64 and float32, and calls a
correct one at kinks nondifferentiable."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("torch", reason="PyTorch is needed for the torch adapter "
                                    "(pip install 'gradkit[torch]')")

from gradcheck.adapters.torch import check_torch
from gradcheck.several_inputs import parse_inputs
from tests.adapters.torch_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name} ({c.dtype})")
def test_gradkit_on_the_zoo(case):
    inputs = case.inputs()
    report = check_torch(case.fn, *inputs)
    failing = [r for r in report.rows if r["status"] == "fail"]
    if case.wrong is None:
        assert report.passed, str(report)
        assert (report.n_nondifferentiable > 0) == case.kink, str(report)
        return
    wrong = parse_inputs(tuple(inputs), "test").names[case.wrong]
    assert {r["tensor"] for r in failing} == {wrong}, str(report)
    if case.wrong_rows is not None:
        row = int(re.findall(r"\d+", failing[0]["worst_index"])[0])
        assert row in case.wrong_rows(inputs), str(report)
