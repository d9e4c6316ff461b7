"""Adapters that check code written with other array libraries through gradkit's engine.

Import the one you need; nothing here is imported by ``gradcheck`` itself, so the core never
imports torch or jax:

- :mod:`gradcheck.adapters.torch` (extra ``gradkit[torch]``): ``check_torch`` and
  ``TorchLayer`` for a ``torch.nn.Module``, a ``torch.autograd.Function`` subclass or any
  function of tensors;
- :mod:`gradcheck.adapters.jax` (extra ``gradkit[jax]``): ``check_jax`` and ``JaxLayer`` for
  a JAX function (with a ``jax.custom_vjp`` or not).

Each wraps the user's code as a gradkit layer (``forward``/``backward``/``params``/``grads``)
whose backward is the library's own reverse mode, so the user's hand-written backward rule
is what gets checked, in the library's own dtype.
"""
