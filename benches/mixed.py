"""Benchmark app of the mixed scenario: `/slow` sleeps 50 ms (a blocking call that releases the
GIL), everything else answers at once; both answer like hello."""

import time


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(0.05)
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
