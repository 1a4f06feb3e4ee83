#!/usr/bin/env python3
"""Soak (issue 17): minutes of mixed clients (keep-alive, a connection per request, 64 KiB POSTs,
heads and bodies trickled byte by byte) against one rw, while the master is reloaded (SIGHUP) and
workers are stopped gracefully (SIGHUP to a worker) and killed (SIGKILL). Reports lost requests
(must be 0), and the fd and RSS figures of the master and the workers at the start and the end
(must be flat). Exits 1 when a request was lost or a figure grew. Standard library only.

    benches/soak.py                                   # target/release/rw, 120 s
    benches/soak.py --rw target/debug/rw --seconds 60

A request is lost when it got no complete, correct answer, except:
- one in flight on a worker the soak SIGKILLed (it started before the kill and failed within
  2 s after it: no server can answer those; counted apart, as `killed in flight`);
- a request on a reused keep-alive connection that the server closed meanwhile and that got no
  byte of an answer is retried once on a new connection, as HTTP clients do for idempotent
  requests (counted as `retried`); POSTs never reuse a connection.
Everything else (a reset, a 5xx, a short or wrong body, a refused connection) is lost.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
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
socket-timeout = 10
post-buffering = 8192
disable-logging = true
die-on-term = true
"""

APP = '''
import time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = str(len(environ["wsgi.input"].read())).encode()
    elif path == "/slow":
        time.sleep(0.2)
        body = b"slow"
    else:
        body = b"fast"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Failed(Exception):
    """`fresh_bytes`: whether any byte of an answer came (a retry is only allowed without)."""

    def __init__(self, why: str, got_bytes: bool):
        super().__init__(why)
        self.got_bytes = got_bytes


def read_response(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes, bytes]:
    """(head, body, what follows) of one response with a Content-Length."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise Failed("closed before the head", bool(buf))
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    if length is None:
        raise Failed(f"no Content-Length in {head[:60]!r}", True)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Failed("closed mid-body", True)
        rest += chunk
    return head, rest[:length], rest[length:]


def check(head: bytes, body: bytes, want: bytes) -> None:
    if not head.startswith(b"HTTP/1.1 200"):
        raise Failed(f"status {head[:30]!r}", True)
    if body != want:
        raise Failed(f"body {body[:30]!r}, wanted {want!r}", True)


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.retried = 0
        self.failures: list[tuple[float, float, str, str]] = []  # (start, end, kind, why)
        self.kills: list[float] = []

    def done(self) -> None:
        with self.lock:
            self.ok += 1

    def fail(self, start: float, kind: str, why: str) -> None:
        with self.lock:
            self.failures.append((start, time.monotonic(), kind, why))


def keep_alive_client(port: int, st: Stats, stop: threading.Event) -> None:
    sock, buf, reused = None, b"", False
    while not stop.is_set():
        path, want = random.choice([("/fast", b"fast")] * 9 + [("/slow", b"slow")])
        t = time.monotonic()
        for attempt in (0, 1):
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
                    buf, reused = b"", False
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: s\r\n\r\n".encode())
                head, body, buf = read_response(sock, buf)
                check(head, body, want)
                st.done()
                reused = b"connection: close" not in head.lower()
                if not reused:
                    sock.close()
                    sock = None
                break
            except (OSError, Failed) as e:
                got = isinstance(e, Failed) and e.got_bytes
                was_reused = reused
                if sock is not None:
                    sock.close()
                sock = None
                if attempt == 0 and was_reused and not got:
                    with st.lock:
                        st.retried += 1
                    continue
                st.fail(t, "keep-alive", repr(e))
                break


def close_client(port: int, st: Stats, stop: threading.Event) -> None:
    while not stop.is_set():
        path, want = random.choice([("/fast", b"fast")] * 9 + [("/slow", b"slow")])
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n".encode())
                head, body, _ = read_response(s, b"")
                check(head, body, want)
            st.done()
        except (OSError, Failed) as e:
            st.fail(t, "close", repr(e))


def post_client(port: int, st: Stats, stop: threading.Event) -> None:
    body = os.urandom(64 * 1024)
    while not stop.is_set():
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: s\r\nConnection: close\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
                head, got, _ = read_response(s, b"")
                check(head, got, str(len(body)).encode())
            st.done()
        except (OSError, Failed) as e:
            st.fail(t, "post", repr(e))


def slow_client(port: int, st: Stats, stop: threading.Event) -> None:
    """Trickles a head (and every other time a small body) over about half a second."""
    n = 0
    while not stop.is_set():
        n += 1
        post = n % 2 == 0
        payload = b"x" * 200
        req = (b"POST /echo HTTP/1.1\r\nHost: s\r\nConnection: close\r\nContent-Length: 200\r\n\r\n" + payload
               if post else b"GET /fast HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
        want = b"200" if post else b"fast"
        t = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                step = max(1, len(req) // 25)
                for i in range(0, len(req), step):
                    s.sendall(req[i:i + step])
                    time.sleep(0.02)
                head, body, _ = read_response(s, b"")
                check(head, body, want)
            st.done()
        except (OSError, Failed) as e:
            st.fail(t, "slow", repr(e))


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def sample(master: int) -> dict:
    ws = children(master)
    wf = [f for f in (fds(w) for w in ws) if f >= 0]
    wr = [r for r in (rss_kb(w) for w in ws) if r >= 0]
    return {"master_fds": fds(master), "master_rss": rss_kb(master), "workers": len(ws),
            "worker_fds": max(wf) if wf else -1, "worker_rss": max(wr) if wr else -1}


def settle(master: int, want_workers: int) -> dict:
    """A sample once every worker is up and idle (bounded): fds settle after connections close."""
    deadline = time.monotonic() + 30
    last = None
    while time.monotonic() < deadline:
        s = sample(master)
        if s["workers"] == want_workers and s == last:
            return s
        last = s
        time.sleep(1)
    return last or sample(master)


def chaos(master: int, st: Stats, stop: threading.Event, reload_every: float, kill_every: float) -> dict:
    counts = {"reloads": 0, "graceful": 0, "killed": 0}
    next_reload = time.monotonic() + reload_every
    next_kill = time.monotonic() + kill_every / 2
    graceful = True
    while not stop.wait(0.2):
        now = time.monotonic()
        if now >= next_reload:
            os.kill(master, signal.SIGHUP)
            counts["reloads"] += 1
            next_reload = now + reload_every
        if now >= next_kill:
            ws = children(master)
            if ws:
                w = random.choice(ws)
                try:
                    if graceful:
                        os.kill(w, signal.SIGHUP)
                        counts["graceful"] += 1
                    else:
                        with st.lock:
                            st.kills.append(time.monotonic())
                        os.kill(w, signal.SIGKILL)
                        counts["killed"] += 1
                except ProcessLookupError:
                    pass
                graceful = not graceful
            next_kill = now + kill_every
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rw", default=os.environ.get("RW_BIN") or str(ROOT / "target" / "release" / "rw"))
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--reload-every", type=float, default=15)
    ap.add_argument("--kill-every", type=float, default=10)
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "app.py").write_text(APP)
        ini = Path(d) / "soak.ini"
        ini.write_text(INI.format(port=port, app=Path(d) / "app.py"))
        log = open(Path(d) / "rw.log", "wb")
        proc = subprocess.Popen([str(Path(args.rw).resolve()), "serve", "--ini", str(ini)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=d)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    if len(children(proc.pid)) == 2:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"rw did not start ({proc.returncode})")
                time.sleep(0.1)
            start = settle(proc.pid, 2)
            st, stop = Stats(), threading.Event()
            roles = [keep_alive_client] * 2 + [close_client] * 2 + [post_client, slow_client]
            threads = [threading.Thread(target=r, args=(port, st, stop)) for r in roles]
            for t in threads:
                t.start()
            counts: dict = {}
            chaos_t = threading.Thread(target=lambda: counts.update(
                chaos(proc.pid, st, stop, args.reload_every, args.kill_every)))
            chaos_t.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.seconds and proc.poll() is None:
                time.sleep(0.5)
            stop.set()
            for t in threads + [chaos_t]:
                t.join()
            secs = time.monotonic() - t0
            end = settle(proc.pid, 2)
            alive = proc.poll() is None
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        in_kill = [f for f in st.failures
                   if any(f[0] <= k and f[1] <= k + 2 for k in st.kills)]
        lost = [f for f in st.failures if f not in in_kill]
        print(f"soak: {secs:.0f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
              f"{counts.get('reloads', 0)} reloads, {counts.get('graceful', 0)} graceful worker stops, "
              f"{counts.get('killed', 0)} worker kills")
        print(f"requests: {st.ok} answered, {st.retried} retried (keep-alive closed by the server), "
              f"{len(in_kill)} killed in flight, {len(lost)} lost")
        for f in lost[:20]:
            print(f"  lost: {f[2]} at {f[0] - t0:.2f} s: {f[3]}")
        print("| | start | end |\n|---|---:|---:|")
        for k in ("master_fds", "master_rss", "workers", "worker_fds", "worker_rss"):
            print(f"| {k}{' (kB)' if 'rss' in k else ''} | {start[k]} | {end[k]} |")
        grew = []
        if end["master_fds"] > start["master_fds"]:
            grew.append("master fds")
        if end["worker_fds"] > start["worker_fds"]:
            grew.append("worker fds")
        # RSS: the master re-executes itself on every reload and workers are replaced, so growth
        # beyond noise (10 % + 2 MB) means memory kept across generations.
        for k in ("master_rss", "worker_rss"):
            if end[k] > start[k] * 1.1 + 2048:
                grew.append(k)
        if not alive:
            print("rw exited during the soak")
        if grew:
            print("grew: " + ", ".join(grew))
        return 0 if alive and not lost and not grew else 1


if __name__ == "__main__":
    sys.exit(main())
