"""Benchmark app: sleeps 20 ms (a blocking call that releases the GIL), then answers like hello."""

import time


def application(environ, start_response):
    time.sleep(0.02)
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
