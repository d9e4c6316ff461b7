"""Check PyTorch code with gradkit: a module, a custom ``autograd.Function``, any function.

    from gradcheck.adapters.torch import check_torch
    check_torch(MyLinear, x, w, b).raise_for_failure()     # a Function subclass
    check_torch(model, x)                                   # an nn.Module: x and parameters

The code under test runs in its own dtype (a float32 custom op is computed, and judged by
gradkit's float32 rule, in float32) on the CPU. Its backward is torch's reverse mode
(``torch.autograd.grad`` with ``grad_outputs = dy``), which runs the ``backward`` of every
custom ``Function`` involved: that is what gets checked, with gradkit's engine, verdict rule,
kink status (``"nondifferentiable"``), localisation and protocol checks.
"""

from __future__ import annotations

import contextlib
import copy
import re

import numpy as np

try:
    import torch
    from torch.func import functional_call
except ImportError as exc:   # the adapter is optional; the core never imports it
    raise ImportError("gradcheck.adapters.torch needs PyTorch: pip install 'gradkit[torch]'"
                      ) from exc

from gradcheck.adapters.common import check_adapted
from gradcheck.report import GradcheckReport

__all__ = ["TorchLayer", "check_torch"]

_INVALID = re.compile(r"returned an invalid gradient at index (\d+)")
_COUNT = re.compile(r"returned an incorrect number of gradients")
_IN_PLACE = re.compile(r"leaf Variable that requires grad is being used in an in-place")


class TorchLayer:
    """A torch module, ``autograd.Function`` subclass or function of tensors as a gradkit layer.

    Parameters
    ----------
    fn : torch.nn.Module, torch.autograd.Function subclass, or callable
        Called as ``fn(*tensors)`` (``fn.apply(*tensors)`` for a ``Function``); returns a
        tensor or a tuple of tensors. A module's trainable parameters (``requires_grad``) are
        the layer's ``params``; its buffers and frozen parameters are ``buffers``.
    name : str, optional
        The ``layer`` column of the rows; default the class or function name.
    torch_seed : int, optional
        Seed torch's random generator with this before every forward (a module with dropout
        in training mode then computes a fixed function); torch's generator state is left as
        it was. None: leave it alone.

    Attributes
    ----------
    gradcheck_name : str
        The rows' ``layer`` label (``name``).
    params : dict of str to ndarray
        Numpy views SHARING memory with the module's parameters (``named_parameters`` keys):
        the checker perturbs them in place, and the module sees it; restored exactly.
    grads : dict of str to ndarray
        Same keys and shapes; ``backward`` overwrites them.
    buffers : dict of str to ndarray
        Views of the module's buffers and frozen parameters (non-trainable state, such as
        batch-norm running statistics), restored after a check.

    Notes
    -----
    ``forward(*arrays)`` takes numpy arrays, makes tensors of them without copies
    (``torch.from_numpy``; float ones require grad, integer and boolean ones are constants),
    calls ``fn`` with grad enabled (a module through ``torch.func.functional_call`` with
    the current ``params``) and returns the output(s) as numpy arrays. ``backward(*dys)``
    (one ``dy`` per output) runs ``torch.autograd.grad`` on the last forward's graph (kept,
    so it can run again), writes the parameters' gradients into ``grads`` and returns
    ``dx`` (one input) or a tuple with one entry per input (``None`` for integer and
    boolean ones). Unused inputs get zero gradients. Grads in the module's ``.grad`` are
    never touched.
    """

    def __init__(self, fn, *, name: str | None = None, torch_seed: int | None = None):
        if isinstance(fn, type) and issubclass(fn, torch.autograd.Function):
            self._call = fn.apply
        elif callable(fn):
            self._call = fn
        else:
            raise TypeError("TorchLayer: fn must be a torch.nn.Module, a torch.autograd."
                            f"Function subclass or a callable of tensors; got {type(fn).__name__}")
        if torch_seed is not None and (isinstance(torch_seed, bool)
                                       or not isinstance(torch_seed, int)):
            raise TypeError(f"TorchLayer: torch_seed must be an int or None, got {torch_seed!r}")
        self.fn, self.torch_seed = fn, torch_seed
        self.gradcheck_name = name or getattr(fn, "__name__", type(fn).__name__)
        module = fn if isinstance(fn, torch.nn.Module) else None
        self.module = module
        named = dict(module.named_parameters()) if module is not None else {}
        self.params = {k: _shared(p, k) for k, p in named.items() if p.requires_grad}
        self.buffers = {k: _shared(p, k) for k, p in named.items() if not p.requires_grad}
        if module is not None:
            self.buffers.update({k: _shared(b, k) for k, b in module.named_buffers()})
        self.grads = {k: np.zeros_like(p) for k, p in self.params.items()}
        self._tape = _Tape()

    @property
    def training(self) -> bool:
        """The module's training flag (a ``Function`` or plain callable has none)."""
        if self.module is None:
            raise AttributeError("training")
        return self.module.training

    @training.setter
    def training(self, value: bool) -> None:
        if self.module is None:
            raise AttributeError("a TorchLayer of a function has no training mode")
        self.module.train(bool(value))

    def forward(self, *inputs):
        """The output(s) of ``fn`` at ``inputs`` (numpy arrays), as numpy arrays."""
        args = tuple(_tensor(a) for a in inputs)
        params = {k: torch.from_numpy(v).requires_grad_() for k, v in self.params.items()}
        seeded = _cpu_generator(self.torch_seed) if self.torch_seed is not None \
            else contextlib.nullcontext()
        with torch.enable_grad(), seeded:
            out = (functional_call(self.module, params, args) if self.module is not None
                   else self._call(*args))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if not all(isinstance(o, torch.Tensor) for o in outs):
            kinds = ", ".join(type(o).__name__ for o in outs)
            raise TypeError(f"{self.gradcheck_name} returned {kinds}; it must return a tensor or a "
                            "tuple of tensors")
        self._tape.args, self._tape.leaves, self._tape.outs = args, params, outs
        arrays = tuple(o.detach().resolve_conj().resolve_neg().numpy() for o in outs)
        return arrays if isinstance(out, (tuple, list)) else arrays[0]

    def backward(self, *dys):
        """Gradients of ``sum_k <dys[k], y_k>`` for the last forward: ``dx`` (or a tuple of
        them) returned, the parameters' gradients written into ``grads``."""
        tape = self._tape
        if tape.outs is None:
            raise RuntimeError(f"{self.gradcheck_name}: backward called before any forward")
        if len(dys) != len(tape.outs):
            raise TypeError(f"{self.gradcheck_name}: backward got {len(dys)} upstream "
                            f"gradients for {len(tape.outs)} outputs")
        wrt = [a for a in tape.args if a.requires_grad] + list(tape.leaves.values())
        pairs = [(o, _tensor(d, grad=False).to(o.dtype))
                 for o, d in zip(tape.outs, dys, strict=True) if d is not None and o.requires_grad]
        grads = (torch.autograd.grad([o for o, _ in pairs], wrt, [d for _, d in pairs],
                                     retain_graph=True, allow_unused=True,
                                     materialize_grads=True)
                 if pairs and wrt else [torch.zeros_like(t) for t in wrt])
        found = iter(g.detach().numpy() for g in grads)
        dx = [next(found) if a.requires_grad else None for a in tape.args]
        for key in self.params:
            np.copyto(self.grads[key], next(found))
        return dx[0] if len(dx) == 1 else tuple(dx)

    def locate_error(self, exc: Exception) -> tuple[str, int | None]:
        """``(check, input index)`` of an error torch raised (see
        :mod:`gradcheck.adapters.common`); a ``Function``'s gradient index is its input's."""
        text = str(exc)
        found = _INVALID.search(text)
        if found:
            direct = isinstance(self.fn, type) and issubclass(self.fn, torch.autograd.Function)
            return "grad_shape", int(found.group(1)) if direct else None
        if _IN_PLACE.search(text):
            return "mutation", None
        return ("grad_count", None) if _COUNT.search(text) else ("error", None)

    def __deepcopy__(self, memo):
        """A copy whose ``params`` share memory with the copied module (not with this one)."""
        return TorchLayer(copy.deepcopy(self.fn, memo), name=self.gradcheck_name,
                          torch_seed=self.torch_seed)


class _Tape:
    """The last forward's tensors (inputs, parameter leaves, outputs), for the backward."""

    args: tuple = ()
    leaves: dict | None = None
    outs: tuple | None = None


def _shared(t: torch.Tensor, key: str) -> np.ndarray:
    """A numpy view sharing memory with the CPU tensor ``t`` (a parameter or buffer)."""
    if t.device.type != "cpu":
        raise ValueError(f"TorchLayer: {key!r} is on {t.device}; gradkit checks on the CPU, "
                         "where parameters share memory with numpy: move the module with .cpu()")
    try:
        return t.detach().numpy()
    except TypeError as exc:   # bfloat16 and other types numpy cannot hold
        raise TypeError(f"TorchLayer: {key!r} has dtype {t.dtype}, which numpy cannot hold; "
                        "check in float32 or float64, e.g. module.float()") from exc


def _tensor(a, grad: bool = True) -> torch.Tensor:
    """``a`` (an array) as a tensor without a copy where possible; with ``grad``, a float
    one requires grad."""
    a = np.asarray(a)
    t = torch.from_numpy(a if a.flags.writeable else a.copy())
    return t.requires_grad_() if grad and (t.is_floating_point() or t.is_complex()) else t


@contextlib.contextmanager
def _cpu_generator(seed: int | None = None):
    """Run the block with torch's CPU generator seeded by ``seed`` (None: as it is), and put
    its state back after (``torch.manual_seed`` would also reach for accelerators)."""
    state = torch.get_rng_state()
    try:
        if seed is not None:
            torch.default_generator.manual_seed(seed)
        yield
    finally:
        torch.set_rng_state(state)


def _as_array(value, name: str) -> np.ndarray:
    """A check's input as a numpy array (a CPU tensor is viewed, never changed)."""
    if isinstance(value, torch.Tensor):
        if value.device.type != "cpu":
            raise ValueError(f"check_torch: {name} is on {value.device}; pass CPU tensors")
        return value.detach().resolve_conj().resolve_neg().numpy()
    return np.asarray(value)


def check_torch(fn, *inputs, name: str | None = None, torch_seed: int | None = None,
                **options) -> GradcheckReport:
    """Check the backward of torch code at ``inputs`` with gradkit (one call).

    Parameters
    ----------
    fn : torch.nn.Module, torch.autograd.Function subclass, or callable of tensors
        See :class:`TorchLayer`. A ``Function`` with non-tensor arguments is checked
        through a closure: ``check_torch(lambda x: MyOp.apply(x, 2), x)``.
    *inputs : ndarray or CPU tensor
        The point, in the dtype the code is meant for (float32 custom ops are checked in
        float32). Float inputs are perturbed and their gradients checked (rows ``"input"``
        for one input, ``"input0"``, ``"input1"``, ... for several); integer and boolean
        ones are constants. Never modified.
    name, torch_seed
        As in :class:`TorchLayer`.
    **options
        Options of :func:`gradcheck.check_layer` (``mode``, ``method``, ``eps``, ``atol``,
        ``rtol``, ``seed``, ``second_point``, ``likely_cause``).

    Returns
    -------
    GradcheckReport
        Rows named ``name``: one per input and parameter, and protocol problems. An error
        the code raises during one of the check's calls (a custom backward that returns a
        gradient of the wrong shape, say) is the report's ``"fail"`` row, naming the call,
        torch's message and the input it is about: ``report.raise_for_failure()`` raises it
        as a :class:`gradcheck.GradcheckError`. Torch's CPU random generator, the module's
        parameters and buffers are left as they were.
    """
    layer = TorchLayer(fn, name=name, torch_seed=torch_seed)
    arrays = [_as_array(a, f"inputs[{i}]") for i, a in enumerate(inputs)]
    with _cpu_generator():   # random code leaves torch's generator as found
        return check_adapted(layer, arrays, options, "check_torch")
