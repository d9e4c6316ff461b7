"""gradkit, the distribution's own name: ``python -m gradkit`` runs the ``gradkit`` command.

The toolkit itself lives in ``gradcheck``, ``diagnostics`` and ``reference_nets``.
"""
