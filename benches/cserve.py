"""Runs a WSGI app of benches/ under fastwsgi or bjoern, one process (compare.py's C peers).

    cserve.py fastwsgi|bjoern MODULE:CALLABLE HOST PORT

Neither has a command line that names a module the way gunicorn or granian do, so this is the
smallest launcher that gives both the same start: import the app, then serve it.
"""

import importlib
import os
import sys


def main() -> None:
    server, target, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    module, _, attr = target.partition(":")
    app = getattr(importlib.import_module(module), attr or "application")
    if server == "fastwsgi":
        import fastwsgi

        fastwsgi.run(wsgi_app=app, host=host, port=port)
    elif server == "bjoern":
        import bjoern

        bjoern.run(app, host, port)
    else:
        raise SystemExit(f"cserve.py: unknown server {server!r}")


if __name__ == "__main__":
    main()
