"""The ``gradkit`` command line: thin argument parsing over the gradkit packages."""
