#!/usr/bin/env python3
"""A slow/fast mix (issue 17 item 2): 2 processes x 2 threads, clients sending 90 % fast requests
and 10 % slow ones (50 ms in the app, benches/mix_app.py). What it shows is where a fast request
waits: a worker that took more connections than it has free threads makes fast requests queue
behind slow ones while a sibling idles; the kernel's listen queue lets any free thread take them.
Reports the fast requests' p50/p99/max (and the slow ones'), throughput, errors, and how the
requests spread over the workers. Standard library only; 127.0.0.1.

    benches/mix.py                                 # target/release/rw, 20 s, 4 clients
    benches/mix.py --rw target/debug/rw --seconds 10 --clients 4
    benches/mix.py --uwsgi /work/wt/uvenv/bin/uwsgi  # also run uWSGI on the same ini
    benches/mix.py --keep-alive                    # one connection per client instead of per request

Each client is closed-loop: request i of client c is slow when (i + c) % 10 == 0, so exactly 10 %
are slow and the clients' slow requests do not line up. The machine's load average is printed:
on a shared machine the absolute figures move; compare servers within one run.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INI = """[uwsgi]
master = true
http-socket = 127.0.0.1:{port}
wsgi-file = {app}
processes = 2
threads = 2
disable-logging = true
die-on-term = true
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    """A client connection that may carry several requests (keep-alive)."""

    def __init__(self, port: int, keep_alive: bool):
        self.port, self.keep_alive = port, keep_alive
        self.sock: socket.socket | None = None
        self.buf = b""

    def request(self, path: str) -> bytes:
        """The body of a 200 answer to GET `path`; raises OSError on anything else."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                self.buf = b""
            conn = "keep-alive" if self.keep_alive else "close"
            try:
                self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: {conn}\r\n\r\n".encode())
                return self._read()
            except OSError:
                self.close()
                if fresh or attempt:
                    raise
                # A reused connection the server closed meanwhile: retry once on a new one.
        raise OSError("unreachable")

    def _read(self) -> bytes:
        assert self.sock is not None
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("closed before the head")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise OSError(f"bad response {head[:40]!r}")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("closed mid-body")
            rest += chunk
        body, self.buf = rest[:length], rest[length:]
        if not self.keep_alive or b"connection: close" in head.lower():
            self.close()
        return body

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def wait_ready(port: int, proc: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            Conn(port, False).request("/")
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start ({proc.returncode})")
            time.sleep(0.1)


def drive(port: int, seconds: float, clients: int, keep_alive: bool) -> dict:
    fast: list[float] = []
    slow: list[float] = []
    pids: dict[bytes, int] = {}
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(c: int) -> None:
        conn = Conn(port, keep_alive)
        i = 0
        my_fast, my_slow, my_pids, my_err = [], [], {}, 0
        while time.monotonic() < stop:
            is_slow = (i + c) % 10 == 0
            t = time.perf_counter()
            try:
                pid = conn.request("/slow" if is_slow else "/fast")
                (my_slow if is_slow else my_fast).append(time.perf_counter() - t)
                my_pids[pid] = my_pids.get(pid, 0) + 1
            except OSError:
                my_err += 1
                conn.close()
            i += 1
        conn.close()
        with lock:
            fast.extend(my_fast)
            slow.extend(my_slow)
            errors[0] += my_err
            for p, n in my_pids.items():
                pids[p] = pids.get(p, 0) + n

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"fast": fast, "slow": slow, "errors": errors[0], "pids": pids,
            "secs": time.monotonic() - t0}


def q(lat: list[float], p: float) -> float:
    if not lat:
        return float("nan")
    s = sorted(lat)
    return s[min(len(s) - 1, int(len(s) * p))] * 1000


def run(name: str, binary: str, args: argparse.Namespace) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        ini = Path(d) / "mix.ini"
        ini.write_text(INI.format(port=port, app=ROOT / "benches" / "mix_app.py"))
        binary = str(Path(binary).resolve())
        cmd = [binary, "serve", "--ini", str(ini)] if name == "rw" else [binary, "--ini", str(ini)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=d)
        try:
            wait_ready(port, proc, name)
            drive(port, 1.0, args.clients, args.keep_alive)  # warm-up
            return drive(port, args.seconds, args.clients, args.keep_alive)
        finally:
            proc.send_signal(2)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rw", default=os.environ.get("RW_BIN") or str(ROOT / "target" / "release" / "rw"))
    ap.add_argument("--uwsgi", help="also run this uWSGI binary on the same ini")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--keep-alive", action="store_true")
    args = ap.parse_args()
    servers = [("rw", args.rw)] + ([("uwsgi", args.uwsgi)] if args.uwsgi else [])
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs; "
          f"{args.clients} clients, {args.seconds:.0f} s, "
          f"{'keep-alive' if args.keep_alive else 'a connection per request'}; 2 processes x 2 threads")
    print("| server | fast p50 ms | fast p99 ms | fast max ms | slow p50 ms | slow p99 ms | req/s | errors | per worker |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, binary in servers:
        r = run(name, binary, args)
        n = len(r["fast"]) + len(r["slow"])
        spread = "/".join(str(v) for v in sorted(r["pids"].values(), reverse=True))
        print(f"| {name} | {q(r['fast'], .5):.2f} | {q(r['fast'], .99):.2f} | {q(r['fast'], 1):.2f} | "
              f"{q(r['slow'], .5):.1f} | {q(r['slow'], .99):.1f} | {n / r['secs']:.0f} | {r['errors']} | {spread} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
