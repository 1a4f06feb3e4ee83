"""rw: a uWSGI-compatible Python WSGI application server, written in Rust.

The ``rw`` command of this package runs inside the interpreter of the virtualenv it is installed
in: the native part (``rw_server._rw``) is an extension module, so it needs no libpython of its
own and sees the venv's ``sys.prefix`` and ``site-packages``.
"""

import sys

from ._rw import __version__, run

__all__ = ["__version__", "main", "run"]


def main() -> None:
    """Entry point of the ``rw`` console script: ``rw serve --ini uwsgi.ini`` and the rest."""
    sys.exit(run(sys.argv))
