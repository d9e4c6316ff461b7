"""Output options (``--report``, ``--records``, ``--out``): declared with their suffixes, all
checked before any work (:func:`diagnostics.atomic.require_output_path`)."""

from __future__ import annotations

HTML = (".html", ".htm")


def add_output(parser, option, *, suffixes, **kwargs):
    """Add the output option ``option`` (``"--report"``) to ``parser``; files it names must
    end in one of ``suffixes``. ``kwargs`` go to ``add_argument`` (help, default, ...)."""
    parser.add_argument(option, metavar="PATH", **kwargs)
    parser.set_defaults(outputs=(*(parser.get_default("outputs") or ()), (option, suffixes)))


def check_outputs(args):
    """Check every output path given on the command line; ``OutputPathError`` (one line
    naming the option and the path) for the first that cannot be written."""
    from diagnostics.atomic import require_output_path

    for option, suffixes in getattr(args, "outputs", ()):
        path = getattr(args, option.lstrip("-").replace("-", "_"))
        if path is not None:
            require_output_path(path, option=option, suffixes=suffixes)
