#!/usr/bin/env python3
"""The cheaper ramp: load rises, holds and falls against rw and uWSGI (pyuwsgi) running the same
ini (`cheaper-algo = busyness`, 1..8 workers, benches/sleep.py: 20 ms per request). Reports, per
phase, the worker count each server ran (sampled from its stats socket every 0.25 s), requests,
errors and p99 latency, plus the workers over time; writes them into BENCHMARKS.md between the
RAMP markers (kept by benches/compare.py). Server pinned to CPU 0, the client to CPU 1;
127.0.0.1 and a unix stats socket only. Standard library only.

    benches/ramp.py                       # target/release/rw vs target/bench-venv/bin/uwsgi
    RW_BIN=... UWSGI_BIN=... benches/ramp.py --out /tmp/ramp.md
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RW = Path(os.environ.get("RW_BIN") or ROOT / "target" / "release" / "rw")
UWSGI = Path(os.environ.get("UWSGI_BIN") or ROOT / "target" / "bench-venv" / "bin" / "uwsgi")
BEGIN = "<!-- ramp: begin (written by benches/ramp.py) -->"
END = "<!-- ramp: end -->"
PROFILE_MARKER = "<!-- profile: everything below is written by benches/profile.sh -->"

# (name, seconds, concurrent clients)
PHASES = [("low", 6, 1), ("rise", 6, 4), ("peak", 12, 16), ("fall", 6, 4), ("idle", 24, 0)]

INI = """[uwsgi]
master = true
http-socket = 127.0.0.1:{port}
wsgi-file = {app}
processes = 8
threads = 1
cheaper = 1
cheaper-initial = 1
cheaper-step = 1
cheaper-overload = 1
cheaper-algo = busyness
cheaper-busyness-multiplier = 3
cheaper-busyness-backlog-alert = 8
stats = {stats}
disable-logging = true
die-on-term = true
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(path: str) -> dict | None:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(path)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data)
    except (OSError, ValueError):
        return None


def running(doc: dict) -> int:
    return sum(1 for w in doc.get("workers", []) if w.get("status") != "cheap" and w.get("pid"))


def one_request(port: int) -> float:
    """Seconds for one GET over a fresh connection; raises on anything but a 200."""
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := c.recv(4096):
            data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise OSError(f"bad response {data[:40]!r}")
    return time.perf_counter() - t


def run_server(name: str, cmd: list[str], port: int, stats_path: str) -> dict:
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while stats(stats_path) is None or not ok(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start ({proc.returncode})")
            time.sleep(0.1)
        time.sleep(1)
        return drive(port, stats_path)
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ok(port: int) -> bool:
    try:
        one_request(port)
        return True
    except OSError:
        return False


def drive(port: int, stats_path: str) -> dict:
    """Runs the phases; returns per-phase latencies, errors and worker samples."""
    results = {name: {"lat": [], "errors": 0, "workers": []} for name, _, _ in PHASES}
    timeline: list[tuple[float, int]] = []
    phase = {"name": PHASES[0][0], "clients": 0}
    stop = threading.Event()
    lock = threading.Lock()
    start = time.monotonic()

    def client(i: int) -> None:
        while not stop.is_set():
            if i >= phase["clients"]:
                time.sleep(0.01)
                continue
            name = phase["name"]
            try:
                d = one_request(port)
                with lock:
                    results[name]["lat"].append(d)
            except OSError:
                with lock:
                    results[name]["errors"] += 1

    def sampler() -> None:
        while not stop.is_set():
            doc = stats(stats_path)
            if doc:
                n = running(doc)
                with lock:
                    results[phase["name"]]["workers"].append(n)
                    timeline.append((time.monotonic() - start, n))
            time.sleep(0.25)

    most = max(c for _, _, c in PHASES)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(most)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    try:
        for name, secs, clients in PHASES:
            phase["name"], phase["clients"] = name, clients
            time.sleep(secs)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return {"phases": results, "timeline": timeline}


def p99(lat: list[float]) -> str:
    if not lat:
        return "–"
    s = sorted(lat)
    return f"{s[min(len(s) - 1, int(len(s) * 0.99))] * 1000:.1f}"


def report(res: dict[str, dict], rw_rev: str, uwsgi_ver: str, load: float) -> str:
    lines = [BEGIN, "", "## Cheaper ramp: workers and p99 as the load rises and falls", "",
             f"Generated by `benches/ramp.py` (rw {rw_rev}, {uwsgi_ver}); do not edit by hand. Both servers "
             "run the same ini: `processes = 8`, `cheaper = 1`, `cheaper-initial = 1`, `cheaper-step = 1`, "
             "`cheaper-overload = 1`, `cheaper-algo = busyness`, `cheaper-busyness-multiplier = 3`, "
             "`cheaper-busyness-backlog-alert = 8`, one thread per worker, benches/sleep.py (20 ms per "
             "request). Clients open one connection per request (uWSGI's http-socket closes them "
             "anyway); server on CPU 0, client on CPU 1. Workers = processes not `cheap` in the stats, "
             "sampled every 0.25 s: min–max over the phase. The machine's 1-minute load average when the run "
             f"started: {load:.1f} (2 CPUs shared with other work: above 2, the p99 figures are "
             "disturbed; compare the worker columns).", "",
             "| phase | s | clients | server | workers | requests | errors | p99 ms |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for name, secs, clients in PHASES:
        for server, r in res.items():
            p = r["phases"][name]
            w = p["workers"]
            span = f"{min(w)}–{max(w)}" if w else "–"
            lines.append(f"| {name} | {secs} | {clients} | {server} | {span} | {len(p['lat'])} | "
                         f"{p['errors']} | {p99(p['lat'])} |")
    lines += ["", "Workers over time (one sample a second):", "", "```"]
    for server, r in res.items():
        per_sec: dict[int, int] = {}
        for t, n in r["timeline"]:
            per_sec.setdefault(int(t), n)
        lines.append(f"{server:6} " + " ".join(str(per_sec[k]) for k in sorted(per_sec)))
    lines += ["```", "", END]
    return "\n".join(lines) + "\n"


def write(out: Path, block: str) -> None:
    old = out.read_text() if out.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + block + rest.split(END, 1)[1].lstrip("\n")
    elif PROFILE_MARKER in old:
        head, rest = old.split(PROFILE_MARKER, 1)
        new = head + block + "\n" + PROFILE_MARKER + rest
    else:
        new = old + "\n" + block
    out.write_text(new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    a = ap.parse_args()
    os.sched_setaffinity(0, {1})
    load = os.getloadavg()[0]
    app = str(ROOT / "benches" / "sleep.py")
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for name, binary in [("rw", RW), ("uwsgi", UWSGI)]:
            port, st = free_port(), f"{d}/{name}.stats"
            ini = Path(d) / f"{name}.ini"
            ini.write_text(INI.format(port=port, app=app, stats=st))
            cmd = [str(binary), "serve", "--ini", str(ini)] if name == "rw" else [str(binary), "--ini", str(ini)]
            print(f"[ramp] {name}: {sum(s for _, s, _ in PHASES)} s", file=sys.stderr)
            res[name] = run_server(name, cmd, port, st)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    ver = subprocess.run([str(UWSGI), "--version"], capture_output=True, text=True).stdout.strip()
    block = report(res, rev, f"uWSGI {ver}", load)
    write(Path(a.out), block)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
