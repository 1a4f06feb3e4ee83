"""Benchmark app: the file named by $BENCH_FILE (1 MiB) through wsgi.file_wrapper.

A server without wsgi.file_wrapper gets the same bytes as an iterator of 64 KiB reads (PEP 3333's
fallback); compare.py records which one each server took.
"""

import os

PATH = os.environ["BENCH_FILE"]
SIZE = str(os.path.getsize(PATH))


def _chunks(f, size=65536):
    with f:
        while True:
            b = f.read(size)
            if not b:
                return
            yield b


def application(environ, start_response):
    f = open(PATH, "rb")
    wrapper = environ.get("wsgi.file_wrapper")
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", SIZE),
        ("X-File-Wrapper", "yes" if wrapper else "no"),
    ])
    if wrapper is None:
        return _chunks(f)
    return wrapper(f, 65536)
