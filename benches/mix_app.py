"""Benchmark app for benches/mix.py: `/slow` sleeps 50 ms (a blocking call that releases the GIL),
anything else answers at once; both answer with the worker's pid."""

import os
import time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.05)
    pid = str(os.getpid()).encode()  # at request time: the app is imported before the fork
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(pid)))])
    return [pid]
