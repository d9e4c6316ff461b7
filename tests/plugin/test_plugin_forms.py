"""The ``gradcheck`` fixture takes every form the checker takes: several inputs, integer
inputs, keyword inputs, adapters of other conventions, any model, functions with a vjp,
and torch code."""

import pytest


def test_the_fixture_takes_every_numpy_form(layer_project):
    layer_project.makepyfile(
        test_n="""
        import numpy as np
        from gradcheck import adapt
        from reference_nets.losses import MSE
        from tests.gradcheck import inputs_layers as il, model_forms as mf
        from tests.gradcheck import thirdparty_lib as lib

        RNG = np.random.default_rng(0)
        A, B = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 4))

        def test_several_inputs(gradcheck):
            rows = gradcheck(il.Bilinear(), A, B).rows
            assert {r["tensor"] for r in rows} == {"input0", "input1", "W"}

        def test_integer_ids(gradcheck):
            rows = {r["tensor"]: r["status"] for r in gradcheck(il.Embedding(),
                                                                np.array([1, 3, 3])).rows}
            assert rows == {"E": "pass", "input": "constant"}

        def test_keyword_inputs(gradcheck):
            q, k, v = (RNG.standard_normal((4, 3)) for _ in range(3))
            gradcheck(il.KeywordAttention(), {"q": q, "k": k, "v": v}, mode="full")

        def test_adapter(gradcheck):
            fc = adapt(lib.FC(3, 2), params="parameters", grads="gradients",
                       accumulate="zero_grad", forward="__call__", backward="backprop")
            gradcheck(fc, A)

        def test_residual_model(gradcheck):
            gradcheck(mf.resnet(3), RNG.standard_normal((4, 3)), loss=MSE(),
                      y=RNG.standard_normal((4, 2)))

        def test_function_with_vjp(gradcheck):
            gradcheck(lambda a, b: a * b, A, 2 * A, vjp=lambda ins, g: (g * ins[1], g * ins[0]))

        def test_a_buggy_second_input_fails(gradcheck):
            gradcheck(il.Bilinear(bug="db"), A, B)
        """
    )
    result = layer_project.runpytest()
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_a_buggy_second_input_fails - Bilinear input1*"])


def test_several_inputs_for_a_model_are_a_clear_error(layer_project):
    layer_project.makepyfile(
        """
        import numpy as np
        from reference_nets.losses import MSE
        from tests.gradcheck import model_forms as mf

        def test_model(gradcheck):
            x = np.ones((2, 3))
            gradcheck(mf.resnet(1), x, x, loss=MSE(), y=np.ones((2, 2)))
        """
    )
    result = layer_project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TypeError: assert_gradients got 2 inputs for a model*"])


def test_the_fixture_takes_torch_functions_and_modules(layer_project):
    pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")
    layer_project.makepyfile(
        test_t="""
        import numpy as np
        import torch

        class Square(torch.autograd.Function):
            slope = 2.0

            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @classmethod
            def backward(cls, ctx, g):
                (x,) = ctx.saved_tensors
                return cls.slope * x * g

        class WrongSquare(Square):
            slope = 2.001                      # 0.05 % too large

        X = np.random.default_rng(0).standard_normal((4, 3))

        def test_module(gradcheck):
            torch.manual_seed(0)
            gradcheck(torch.nn.Linear(3, 2).double(), X)

        def test_function_float32(gradcheck):
            gradcheck(Square, X.astype(np.float32))

        def test_function_wrong(gradcheck):
            gradcheck(WrongSquare, X)
        """
    )
    result = layer_project.runpytest_subprocess()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_function_wrong - WrongSquare input*"])
