#!/usr/bin/env python3
"""rw vs uWSGI (pyuwsgi) vs gunicorn vs granian (and the C servers fastwsgi and bjoern on hello
and POST): the driver behind benches/compare.sh.

Every scenario runs for every server in interleaved rounds (A B C D, A B C D, ...). Servers are
pinned to CPU 0, wrk (or benches/mixedload.py) to CPU 1; one worker process, one thread unless
the scenario says otherwise;
127.0.0.1 / unix sockets only. Writes BENCHMARKS.md (generated; the profile section after the
PROFILE_MARKER line and benches/ramp.py's block are kept as they are). Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benches"
VENV = ROOT / "target" / "bench-venv"
RW = Path(os.environ.get("RW_BIN") or ROOT / "target" / "release" / "rw")
PROFILE_MARKER = "<!-- profile: everything below is written by benches/profile.sh -->"
RAMP_BEGIN = "<!-- ramp: begin (written by benches/ramp.py) -->"
RAMP_END = "<!-- ramp: end -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, CLIENT_CPU = "0", "1"
# The listen backlog of rw (benches/rw-*.ini) and uWSGI: what granian and bjoern default to. uWSGI's own
# default, 100, overflows when 1,000 connections arrive at once (SYN cookies, retransmits after 1 s).
BACKLOG = 1024
FILE_SIZE = 1 << 20
SMALL_FILES = 100  # /static/4k/0.bin .. 99.bin (benches/static4k.lua walks them)


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc accounting


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime+stime ticks) of one process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree(root: int) -> list[int]:
    """root and all its descendants (scan of /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                children.setdefault(st[0], []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if Path(f"/proc/{p}").exists():
            out.append(p)
            todo.extend(children.get(p, []))
    return out


def cpu_ticks(roots: list[int]) -> int:
    total = 0
    for r in roots:
        for p in tree(r):
            st = _stat(p)
            if st:
                total += st[1]
    return total


def cpu0_busy() -> int:
    """Busy ticks of CPU 0 (everything but idle and iowait), from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{SERVER_CPU} "):
            v = list(map(int, line.split()[1:]))
            return sum(v) - v[3] - v[4]
    return 0


def memory(root: int) -> list[dict]:
    """RSS and PSS (KiB, smaps_rollup) of every process of the tree."""
    rows = []
    for p in tree(root):
        try:
            roll = Path(f"/proc/{p}/smaps_rollup").read_text()
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
        except OSError:
            continue
        kv = dict(re.findall(r"^(\w+):\s+(\d+) kB", roll, re.M))
        rows.append({"pid": p, "cmd": cmd.strip(), "rss": int(kv.get("Rss", 0)), "pss": int(kv.get("Pss", 0))})
    return rows


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


LIVE: list[Proc] = []


def spawn(name: str, cmd: list[str], env: dict, cwd: Path, tmp: Path) -> Proc:
    log_path = tmp / f"{name}.log"
    with open(log_path, "wb") as out:
        popen = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    p = Proc(name, popen, log_path)
    LIVE.append(p)
    return p


def stop(p: Proc, sig: int = signal.SIGINT) -> None:
    """Stop a server: `sig` to its root, then SIGKILL to whatever is left of its tree."""
    pids = tree(p.pid)
    if p.popen.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.popen.wait(timeout=8)
        except subprocess.TimeoutExpired:
            log(f"{p.name}: did not stop on signal {sig}; killing")
    for pid in pids + tree(p.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        p.popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    if p in LIVE:
        LIVE.remove(p)


def stop_all() -> None:
    for p in list(LIVE):
        stop(p)


def http_get_status(addr: tuple[str, int]) -> int | None:
    try:
        with socket.create_connection(addr, timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(m.group(1)) if m else None


def wait_ready(procs: list[Proc], addr: tuple[str, int], t0: float, timeout: float = 30.0) -> float:
    """Polls GET / every millisecond; returns seconds from t0 to the first 200."""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.popen.poll() is not None:
                raise BenchError(f"{p.name} exited with {p.popen.returncode} while starting:\n{tail(p.log_path)}")
        if http_get_status(addr) == 200:
            return time.monotonic() - t0
        time.sleep(0.001)
    raise BenchError(f"{procs[-1].name}: no 200 on {addr} after {timeout:.0f}s:\n{tail(procs[-1].log_path)}")


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------- servers


@dataclass
class Setup:
    """What a scenario asks of a server."""

    app: str  # file under benches/
    threads: int = 1
    processes: int = 1
    static: bool = False  # rw/uWSGI: static-map /static
    unix: bool = False  # uwsgi protocol on a unix socket (behind nginx)


def server_cmd(server: str, s: Setup, port: int, sock: Path, tmp: Path) -> tuple[list[str], dict]:
    """The exact command line (pinned to CPU 0) and extra environment of one server."""
    app = str(BENCH / s.app)
    module = s.app.removesuffix(".py").replace("/", ".") + ":application"
    addr = f"127.0.0.1:{port}"
    env: dict[str, str] = {}
    v = str(VENV / "bin")
    if server in ("rw", "rw-nofreeze"):
        # The same venv the peers run from (its site-packages, not the base interpreter's).
        env["BENCH_HOME"] = str(VENV)
        if s.unix:
            ini = "rw-uwsgi.ini"
            env.update(BENCH_SOCKET=str(sock), BENCH_APP=app)
        elif s.processes > 1:
            ini = "rw-http-workers.ini"
            env.update(BENCH_ADDR=addr, BENCH_APP=app, BENCH_THREADS=str(s.threads),
                       BENCH_PROCESSES=str(s.processes))
        else:
            ini = "rw-http-static.ini" if s.static else "rw-http.ini"
            env.update(BENCH_ADDR=addr, BENCH_APP=app, BENCH_THREADS=str(s.threads))
            if s.static:
                env["BENCH_STATIC_DIR"] = str(tmp / "static")
        cmd = [str(RW), "serve", "--ini", str(BENCH / ini)]
        if server == "rw-nofreeze":  # the memory scenario's control: no gc.freeze() before fork
            cmd += ["--rw-gc-freeze", "false"]
    elif server == "uwsgi":
        listen = ["--socket", str(sock)] if s.unix else ["--http-socket", addr]
        cmd = [f"{v}/uwsgi", *listen, "--wsgi-file", app, "--processes", str(s.processes), "--master",
               "--disable-logging", "--listen", str(BACKLOG)]
        if s.threads > 1:
            cmd += ["--threads", str(s.threads)]
        if s.static:
            cmd += ["--static-map", f"/static={tmp / 'static'}"]
    elif server == "gunicorn":
        cmd = [f"{v}/gunicorn", "-w", str(s.processes), "--no-control-socket", "--log-level", "warning", "-b", addr,
               "--chdir", str(BENCH)]
        if s.threads > 1:
            cmd += ["-k", "gthread", "--threads", str(s.threads)]
        cmd.append(module)
    elif server.startswith("granian"):
        cmd = [f"{v}/granian", "--interface", "wsgi", "--workers", str(s.processes), "--host", "127.0.0.1", "--port",
               str(port), "--no-access-log", "--log-level", "warning", "--working-dir", str(BENCH)]
        if server == "granian":  # granian-defaults: its own blocking-threads default (backpressure/2)
            cmd += ["--blocking-threads", str(s.threads)]
        cmd.append(module)
    elif server in C_PEERS:  # one process, one event loop: neither has workers or threads
        cmd = [f"{v}/python", str(BENCH / "cserve.py"), server, module, "127.0.0.1", str(port)]
    else:
        raise ValueError(server)
    return ["taskset", "-c", SERVER_CPU, *cmd], env


def nginx_conf(tmp: Path, port: int, upstream: Path | None) -> Path:
    """nginx with one worker: uwsgi_pass to `upstream`, or `return 200` when None."""
    d = tmp / f"nginx-{port}"
    d.mkdir(exist_ok=True)
    extra = ""
    if upstream is None:
        loc = "default_type text/plain;\n            return 200 'Hello, World!';"
        # the file ceiling: what one wrk core takes in when nginx sendfiles the scenario-4 file
        extra = f"location /static/ {{ alias {tmp / 'static'}/; sendfile on; }}"
    else:
        loc = f"include /etc/nginx/uwsgi_params;\n            uwsgi_pass unix:{upstream};"
    conf = d / "nginx.conf"
    conf.write_text(f"""# generated by benches/compare.py
worker_processes 1;
user root;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    # the default 16k would spool every 64 KiB POST to a temp file (ANCHORS.md)
    client_body_buffer_size 128k;
    client_max_body_size 1m;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            {loc}
        }}
        {extra}
    }}
}}
""")
    return conf


@dataclass
class Running:
    procs: list[Proc]  # server first, then nginx if any
    addr: tuple[str, int]
    ready_s: float
    cmds: list[list[str]]


class Ports:
    """Server ports below the kernel's ephemeral range, so that no client's local port (wrk with
    1,000 connections holds that many, plus their TIME_WAIT) takes the next server's port."""

    def __init__(self) -> None:
        try:
            low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            low = 32768
        span = max(1, (low - 10000) // 100 - 2)
        self.next = 10000 + (os.getpid() % span) * 100

    def take(self) -> int:
        while True:
            self.next += 1
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", self.next))
                    return self.next
                except OSError:
                    continue


def start(server: str, s: Setup, tmp: Path, ports: Ports) -> Running:
    port = ports.take()
    sock = tmp / f"{server}-{port}.sock"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("UWSGI_", "GRANIAN_", "GUNICORN_"))}
    base_env["BENCH_FILE"] = str(tmp / "static" / "1m.bin")
    base_env["BENCH_DJANGO_DB"] = str(tmp / "django.sqlite3")
    t0 = time.monotonic()
    procs, cmds = [], []
    if server == "nginx":  # the ceiling: nginx alone
        cmd = ["taskset", "-c", SERVER_CPU, "nginx", "-e", "stderr", "-c", str(nginx_conf(tmp, port, None))]
        procs.append(spawn(f"nginx-{port}", cmd, base_env, tmp, tmp))
        cmds.append(cmd)
    else:
        cmd, extra = server_cmd(server, s, port, sock, tmp)
        procs.append(spawn(f"{server}-{port}", cmd, base_env | extra, BENCH, tmp))
        cmds.append([f"{k}={v}" for k, v in sorted(extra.items())] + cmd)
        if s.unix:
            deadline = time.monotonic() + 30
            while not sock.exists():
                if procs[0].popen.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"{server}: no socket {sock}:\n{tail(procs[0].log_path)}")
                time.sleep(0.001)
            nport = ports.take()
            ncmd = ["taskset", "-c", SERVER_CPU, "nginx", "-e", "stderr", "-c", str(nginx_conf(tmp, nport, sock))]
            procs.append(spawn(f"nginx-{nport}", ncmd, base_env, tmp, tmp))
            cmds.append(ncmd)
            port = nport
    addr = ("127.0.0.1", port)
    try:
        ready = wait_ready(procs, addr, t0)
    except BenchError:
        for p in reversed(procs):
            stop(p)
        raise
    return Running(procs, addr, ready, cmds)


def shutdown(r: Running) -> None:
    for p in reversed(r.procs):
        stop(p, signal.SIGQUIT if p.name.startswith("nginx") else signal.SIGINT)


# ---------------------------------------------------------------- wrk


@dataclass
class Sample:
    rps: float
    requests: int
    p99_ms: float
    socket_errors: int
    non2xx: int
    cpu_us: float  # server tree CPU per request
    other_pct: float  # CPU 0 busy with anything but the server tree, % of the run (contention)
    extra: dict = field(default_factory=dict)
    accept_queue: int = -1  # largest accept backlog of the listener wrk uses, sampled mid-run
    server_cpu_us: float = -1.0  # the server's own tree per request, when nginx runs in front of it


def accept_queue(port: int) -> int:
    """Connections waiting in the accept queue of the TCP listener on 127.0.0.1:`port` (Recv-Q
    of a listening socket in `ss`); -1 when it cannot be read."""
    try:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=5).stdout
        return max((int(line.split()[1]) for line in out.splitlines() if line.strip()), default=-1)
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return -1


def _ms(v: str, unit: str) -> float:
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(r: Running, path: str, seconds: float, conns: int, args: list[str]) -> Sample:
    url = f"http://{r.addr[0]}:{r.addr[1]}{path}"
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--latency", *args, url]
    roots = [p.pid for p in r.procs]
    fronted = len(r.procs) > 1  # nginx in front: its CPU is counted apart too
    own0 = cpu_ticks(roots[:1]) if fronted else 0
    before, busy0, t0 = cpu_ticks(roots), cpu0_busy(), time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    queue = -1
    for frac in (0.25, 0.5, 0.75):  # mid-run: every connection should be accepted by now
        time.sleep(max(0.0, t0 + seconds * frac - time.monotonic()))
        queue = max(queue, accept_queue(r.addr[1]))
    try:
        stdout, stderr = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise BenchError("wrk did not finish")
    out = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    after, busy1, wall = cpu_ticks(roots), cpu0_busy(), time.monotonic() - t0
    own1 = cpu_ticks(roots[:1]) if fronted else 0
    other = max(0.0, 100.0 * ((busy1 - busy0) - (after - before)) / CLK_TCK / wall)
    for p in r.procs:
        if p.popen.poll() is not None:
            raise BenchError(f"{p.name} died during wrk:\n{tail(p.log_path)}")
    text = out.stdout
    if out.returncode != 0 or "Requests/sec" not in text:
        raise BenchError(f"wrk failed ({out.returncode}): {text}{out.stderr}")
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    p99 = _ms(*m.groups()) if m else float("nan")
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errs = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx = int(m.group(1)) if m else 0
    cpu_us = (after - before) / CLK_TCK * 1e6 / max(reqs, 1)
    own_us = (own1 - own0) / CLK_TCK * 1e6 / max(reqs, 1) if fronted else -1.0
    return Sample(rps, reqs, p99, errs, non2xx, cpu_us, other, {"cmd": shlex.join(cmd)}, queue, own_us)


def mixed(r: Running, seconds: float, conns: int) -> Sample:
    """benches/mixedload.py on CPU 1 against the server: 90 % fast requests, 10 % that sleep
    50 ms; p99_ms is the fast requests' p99 (p50 and p99.9 are in `extra`)."""
    cmd = ["taskset", "-c", CLIENT_CPU, sys.executable, str(BENCH / "mixedload.py"), r.addr[0], str(r.addr[1]),
           str(conns), f"{seconds:g}"]
    roots = [p.pid for p in r.procs]
    before, busy0, t0 = cpu_ticks(roots), cpu0_busy(), time.monotonic()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise BenchError("mixedload.py did not finish")
    after, busy1, wall = cpu_ticks(roots), cpu0_busy(), time.monotonic() - t0
    for p in r.procs:
        if p.popen.poll() is not None:
            raise BenchError(f"{p.name} died during mixedload.py:\n{tail(p.log_path)}")
    if out.returncode != 0:
        raise BenchError(f"mixedload.py failed ({out.returncode}): {out.stdout}{out.stderr}")
    d = json.loads(out.stdout)
    other = max(0.0, 100.0 * ((busy1 - busy0) - (after - before)) / CLK_TCK / wall)
    cpu_us = (after - before) / CLK_TCK * 1e6 / max(d["requests"], 1)
    shown = shlex.join(["taskset", "-c", CLIENT_CPU, "python3", "benches/mixedload.py", "127.0.0.1", "PORT",
                        str(conns), f"{seconds:g}"])
    return Sample(d["rps"], d["requests"], d["fast_p99_ms"], d["errors"], d["non2xx"], cpu_us, other,
                  {"cmd": shown, **{k: d[k] for k in ("fast_p50_ms", "fast_p999_ms", "slow_p50_ms", "fast",
                                                      "slow", "connects")}})


def counted_gets(r: Running, count: int, path: str = "/", conns: int = 32, extra: tuple[str, ...] = (),
                 deadline_s: float = 300) -> int:
    """Exactly `count` GETs of `path`: wrk in 1 s slices, each stopping after what is left
    (count.lua; a stopped wrk thread still waits out -d, hence the slices)."""
    done = 0
    deadline = time.monotonic() + deadline_s
    while done < count and time.monotonic() < deadline:
        out = subprocess.run(["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", "-d1s", *extra,
                              "-s", str(BENCH / "count.lua"), f"http://127.0.0.1:{r.addr[1]}{path}"],
                             env=os.environ | {"BENCH_COUNT": str(count - done)},
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"(\d+) requests in", out.stdout)
        if out.returncode != 0 or not m:
            raise BenchError(f"wrk failed: {out.stdout}{out.stderr}")
        done += int(m.group(1))
    return done


def send_count(r: Running, count: int) -> int:
    """Exactly `count` keep-alive GETs of /."""
    return counted_gets(r, count)


DJANGO_MEM_SERVERS = ["rw", "rw-nofreeze", "uwsgi", "gunicorn", "granian"]
DJANGO_MEM_PROCESSES = (1, 4)


def warm(r: Running, path: str, count: int) -> int:
    """`count` GETs of `path`, a new connection each (so that every worker process gets some)."""
    return counted_gets(r, count, path, 16, ("-H", "Connection: close"), 120)


def django_memory(tmp: Path, ports: "Ports", count: int, quick: bool) -> dict[str, dict[str, list[dict]]]:
    """PSS of the whole tree of each server running the Django project with 1 and with 4 worker
    processes (4 threads each), after `count` requests to each of its two views (--quick: rw with
    and without the freeze and uWSGI only)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for server in DJANGO_MEM_SERVERS[:3] if quick else DJANGO_MEM_SERVERS:
        for n in DJANGO_MEM_PROCESSES:
            log(f"django memory: {server}, {n} process(es), after {count:,} requests per view")
            r = start(server, Setup("djangoapp/wsgi.py", threads=4, processes=n), tmp, ports)
            try:
                for path in ("/items/", "/api/"):
                    warm(r, path, count)
                rows = memory(r.procs[0].pid)
                out.setdefault(server, {})[str(n)] = rows
                log(f"  PSS {sum(x['pss'] for x in rows) / 1024:.1f} MiB in {len(rows)} processes")
            finally:
                shutdown(r)
    return out


# ---------------------------------------------------------------- scenarios


@dataclass
class Measure:
    key: str
    title: str
    path: str = "/"
    conns: int = 32
    args: list[str] = field(default_factory=list)
    long: bool = False  # the headline duration
    client: str = "wrk"  # or "mixed" (benches/mixedload.py)


@dataclass
class Scenario:
    key: str
    title: str
    setup: Setup
    servers: list[str]
    measures: list[Measure]
    note: str = ""


PEERS = ["rw", "uwsgi", "gunicorn", "granian"]
C_PEERS = ["fastwsgi", "bjoern"]  # single-process C servers (benches/cserve.py), hello and POST only
CLOSE = ["-H", "Connection: close"]
POST = ["-s", str(BENCH / "post64k.lua")]


def scenarios() -> list[Scenario]:
    return [
        Scenario("hello", "1-2. hello (13-byte body)", Setup("hello.py"), PEERS + ["granian-defaults"] + C_PEERS, [
            Measure("1-keepalive", "1. GET hello, keep-alive, 32 connections", long=True),
            Measure("2-close", "2. GET hello, `Connection: close`, 32 connections", args=CLOSE),
            Measure("1-keepalive-c1000", "1c. GET hello, keep-alive, 1,000 connections", conns=1000),
        ], "The measures run against the same server instance (in this order: 1,000 connections last, so that "
           "a server still draining a backlog of them "
           "disturbs no other measure). `granian-defaults` is "
           "granian without `--blocking-threads` (its WSGI default is backpressure/2 = 512 threads). "
           "fastwsgi (libuv) and bjoern (libev) are C servers with one process and no threads, started by "
           "`benches/cserve.py`. With 1,000 connections the open-file limit is raised by compare.sh."),
        Scenario("echo", "3. POST 64 KiB", Setup("echo.py"), PEERS + C_PEERS, [
            Measure("3-post64k", "3. POST 64 KiB body (echo app: reads all of wsgi.input, answers its length), "
                    "keep-alive", args=POST),
        ]),
        Scenario("file", "4. 1 MiB response", Setup("filewrap.py", static=True), PEERS, [
            Measure("4-filewrapper", "4a. 1 MiB response via `wsgi.file_wrapper`, keep-alive"),
        ]),
        Scenario("static", "4. 1 MiB static file", Setup("filewrap.py", static=True), ["rw", "uwsgi"], [
            Measure("4-static", "4b. 1 MiB static file via `static-map` (rw) / `--static-map` (uWSGI), "
                    "keep-alive", path="/static/1m.bin"),
            Measure("4-static-10m", "4c. 10 MiB static file via `static-map`, keep-alive", path="/static/10m.bin"),
            Measure("4-static-4k", f"4d. 4 KiB static files via `static-map`, {SMALL_FILES} files in turn "
                    "(benches/static4k.lua), keep-alive", args=["-s", str(BENCH / "static4k.lua")]),
        ]),
        Scenario("nginx-hello", "5. nginx → server, uwsgi protocol", Setup("hello.py", unix=True), ["rw", "uwsgi"], [
            Measure("5-nginx-hello", "5a. nginx `uwsgi_pass` unix socket → server, GET hello, wrk→nginx keep-alive"),
        ], "nginx (1 worker) runs on CPU 0 with the server; CPU µs/req counts both trees, "
           "\"server alone\" only the server's (the rest is nginx's)."),
        Scenario("nginx-echo", "5. nginx → server, POST", Setup("echo.py", unix=True), ["rw", "uwsgi"], [
            Measure("5-nginx-post64k", "5b. nginx `uwsgi_pass` unix socket → server, POST 64 KiB "
                    "(`client_body_buffer_size 128k`)", args=POST),
        ]),
        Scenario("threads", "6. threads = 8, app sleeps 20 ms", Setup("sleep.py", threads=8), PEERS, [
            Measure("6-threads8-sleep20", "6. 8 threads, app sleeps 20 ms, 64 connections (ideal: 400 r/s)",
                    conns=64),
        ]),
        Scenario("mixed", "8. mixed load, 2 processes x 4 threads", Setup("mixed.py", threads=4, processes=2),
                 PEERS, [
            Measure("8-mixed", "8. mixed: 90 % fast, 10 % sleep 50 ms, 2 processes × 4 threads, 64 connections "
                    "(p99 = the fast requests')", conns=64, client="mixed"),
        ], "benches/mixedload.py (asyncio, CPU 1) keeps 64 keep-alive connections busy; every 10th request of "
           "a connection is `/slow`. A fast request should never wait behind a slow one while a thread is "
           "idle; the fast requests' p50/p99/p99.9 are below the table. uWSGI `--http-socket` closes after "
           "every response, so it pays a reconnect per request."),
        Scenario("django", "9. Django, 2 processes x 4 threads", Setup("djangoapp/wsgi.py", threads=4, processes=2),
                 PEERS, [
            Measure("9-django-template", "9a. Django: template view with a sqlite query (20 rows), default "
                    "middleware, 2 processes × 4 threads", path="/items/"),
            Measure("9-django-json", "9b. Django: JSON view, default middleware, 2 processes × 4 threads",
                    path="/api/"),
        ], "benches/djangoapp: Django's default middleware stack, sqlite made before the servers start "
           "(benches/djangoapp/make_db.py); gunicorn with `-k gthread`, granian with `--blocking-threads 4`."),
        Scenario("ceiling", "ceiling: nginx alone", Setup("hello.py"), ["nginx"], [
            Measure("c-nginx-keepalive", "ceiling: nginx `return 200 'Hello, World!'`, keep-alive"),
            Measure("c-nginx-close", "ceiling: nginx `return 200 'Hello, World!'`, `Connection: close`",
                    args=CLOSE),
            Measure("c-nginx-static", "ceiling: nginx static 1 MiB file (`sendfile on`), keep-alive",
                    path="/static/1m.bin"),
        ]),
    ]


LOOP_CODE = r"""
import importlib.util, io, sys, time
def load(p):
    spec = importlib.util.spec_from_file_location("app", p)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m.application
hello, echo = load(sys.argv[1]), load(sys.argv[2])
# the 23 keys rw builds for a wrk GET (10 CGI vars, HTTP_HOST, 10 per-worker constants,
# wsgi.input, wsgi.url_scheme)
base = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "PATH_INFO": "/", "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "", "SERVER_NAME": "bench", "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.input_terminated": True,
        "wsgi.file_wrapper": None, "uwsgi.version": b"2.0.30", "uwsgi.node": b"bench", "rw.version": "0.1.0"}
def sr(status, headers, exc_info=None):
    return None
def run(app, body, seconds):
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(1000):
            env = dict(base)
            env["wsgi.input"] = io.BytesIO(body)
            env["wsgi.url_scheme"] = "http"
            b"".join(app(env, sr))
        n += 1000
        el = time.perf_counter() - t0
        if el >= seconds:
            return n / el
secs = float(sys.argv[3])
assert len(dict(base, **{"wsgi.input": 0, "wsgi.url_scheme": 0})) == 23
print(run(hello, b"", secs), run(echo, b"x" * 65536, secs))
"""


def python_ceiling(seconds: float) -> tuple[float, float]:
    out = subprocess.run(["taskset", "-c", SERVER_CPU, "python3", "-c", LOOP_CODE, str(BENCH / "hello.py"),
                          str(BENCH / "echo.py"), str(seconds)], capture_output=True, text=True, check=True)
    h, e = out.stdout.split()
    return float(h), float(e)


# ---------------------------------------------------------------- main


def fmt_n(v: float) -> str:
    if v != v:
        return "–"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def med_range(vals: list[float]) -> str:
    if not vals:
        return "–"
    if len(vals) == 1:
        return fmt_n(vals[0])
    return f"{fmt_n(statistics.median(vals))} ({fmt_n(min(vals))}–{fmt_n(max(vals))})"


def ratio(vals: list[float]) -> str:
    if not vals:
        return "–"
    m = statistics.median(vals)
    return f"{m:.2f}×" if len(vals) == 1 else f"{m:.2f}× ({min(vals):.2f}–{max(vals):.2f})"


def versions() -> dict[str, str]:
    def run(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (r.stdout + r.stderr).strip()
        except OSError as e:
            return f"unavailable ({e})"

    rev = run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"])
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
    if os.environ.get("RW_BIN"):  # a binary built elsewhere (compare.sh: RW_BIN=... RW_REV=...)
        rev, dirty = os.environ.get("RW_REV", f"unknown ({os.environ['RW_BIN']})"), ""
    pkgs = json.loads(run([str(VENV / "bin/python"), "-c",
                           "import json, importlib.metadata as m\n"
                           "def v(p):\n try: return m.version(p)\n except m.PackageNotFoundError: return 'missing'\n"
                           "print(json.dumps({p: v(p) for p in "
                           "['pyuwsgi', 'gunicorn', 'granian', 'fastwsgi', 'bjoern', 'django']}))"]))
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    return {
        "rw": rev + (" + uncommitted changes under src/" if dirty else ""),
        "rw build": "cargo build --release (lto = true, codegen-units = 1)",
        **pkgs,
        "nginx": run(["nginx", "-v"]).replace("nginx version: ", ""),
        "wrk": run(["wrk", "--version"]).splitlines()[0].split(" [")[0],
        "python": run(["python3", "--version"]) + " (`python3` on PATH, the one rw embeds and the venv uses)",
        "machine": f"{os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}, "
                   f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def file_wrapper_kind(addr: tuple[str, int]) -> str:
    """filewrap.py's X-File-Wrapper header: whether the server offers wsgi.file_wrapper."""
    try:
        with socket.create_connection(addr, timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
            head = s.recv(4096)
    except OSError:
        return "?"
    m = re.search(rb"(?i)x-file-wrapper: (\w+)", head)
    return m.group(1).decode() if m else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1 round, short durations (a smoke test)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8, help="seconds of the headline measure (1)")
    ap.add_argument("--short", type=float, default=4, help="seconds of the other measures")
    ap.add_argument("--count", type=int, default=100_000, help="requests before the memory reading")
    ap.add_argument("--only", default="", help="comma-separated scenario keys (debugging)")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--report-only", action="store_true", help="re-render --out from --json, measure nothing")
    ap.add_argument("--json", default=str(ROOT / "target" / "bench" / "results.json"))
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.duration, a.short, a.count = 1, 2, 2, 20_000
    if a.report_only:  # re-render BENCHMARKS.md from the last run's JSON (no measuring)
        d = json.loads(Path(a.json).read_text())
        for k, v in d["args"].items():
            setattr(a, k, v)
        res = {k: {s: [Sample(**x) for x in v] for s, v in m.items()} for k, m in d["results"].items()}
        write_report(a, Path(a.out), scenarios(), res, d["commands"], d["wrk_args"], d["cold_ms"], d["memory"],
                     tuple(d["loop"]), d["elapsed"], d["file_wrapper"], d["versions"],
                     dmem=d.get("django_memory", {}))
        return 0
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="rw-bench-"))
    (tmp / "static").mkdir()
    (tmp / "static" / "1m.bin").write_bytes(os.urandom(FILE_SIZE))
    (tmp / "static" / "10m.bin").write_bytes(os.urandom(10 * FILE_SIZE))
    (tmp / "static" / "4k").mkdir()
    for i in range(SMALL_FILES):
        (tmp / "static" / "4k" / f"{i}.bin").write_bytes(os.urandom(4096))
    ports = Ports()
    scen = [s for s in scenarios() if not a.only or s.key in a.only.split(",")]
    if any(s.key == "django" for s in scen):
        made = subprocess.run([str(VENV / "bin" / "python"), str(BENCH / "djangoapp" / "make_db.py")],
                              env=os.environ | {"BENCH_DJANGO_DB": str(tmp / "django.sqlite3")},
                              capture_output=True, text=True)
        if made.returncode != 0:
            log(f"FAILED: benches/djangoapp/make_db.py: {made.stdout}{made.stderr}")
            return 1
    results: dict[str, dict[str, list[Sample]]] = {}
    commands: dict[str, list[list[str]]] = {}
    cold: dict[str, list[float]] = {}
    wrk_args: dict[str, str] = {}
    fw: dict[str, str] = {}
    try:
        for rnd in range(1, a.rounds + 1):
            for sc in scen:
                for server in sc.servers:
                    log(f"round {rnd}/{a.rounds}: {sc.key} on {server}")
                    r = start(server, sc.setup, tmp, ports)
                    commands.setdefault(f"{sc.key}/{server}", r.cmds)
                    if sc.key == "hello":
                        cold.setdefault(server, []).append(r.ready_s * 1e3)
                    if sc.key == "file":
                        fw[server] = file_wrapper_kind(r.addr)
                    try:
                        for m in sc.measures:
                            secs = a.duration if m.long else a.short
                            smp = (mixed(r, secs, m.conns) if m.client == "mixed"
                                   else wrk(r, m.path, secs, m.conns, m.args))
                            wrk_args[m.key] = smp.extra["cmd"].replace(f":{r.addr[1]}", ":PORT")
                            results.setdefault(m.key, {}).setdefault(server, []).append(smp)
                            log(f"  {m.key}: {smp.rps:,.0f} r/s, p99 {smp.p99_ms:.2f} ms, "
                                f"{smp.cpu_us:.1f} µs/req, errors {smp.socket_errors}, non-2xx {smp.non2xx}, "
                                f"other load on CPU 0 {smp.other_pct:.0f}%")
                    finally:
                        shutdown(r)
        mem: dict[str, list[dict]] = {}
        if not a.only or "memory" in a.only.split(","):
            for server in PEERS:
                log(f"memory: {server} after {a.count:,} requests")
                r = start(server, Setup("hello.py"), tmp, ports)
                try:
                    served_n = send_count(r, a.count)
                    mem[server] = memory(r.procs[0].pid)
                    log(f"  {served_n:,} requests; RSS {sum(x['rss'] for x in mem[server]) / 1024:.1f} MiB, "
                        f"PSS {sum(x['pss'] for x in mem[server]) / 1024:.1f} MiB")
                finally:
                    shutdown(r)
        dmem: dict[str, dict[str, list[dict]]] = {}
        if not a.only or "django-memory" in a.only.split(","):
            dmem = django_memory(tmp, ports, 300 if a.quick else 2000, a.quick)
        loop = python_ceiling(2 if a.quick else 3)
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({
        "results": {k: {s: [vars(x) for x in v] for s, v in d.items()} for k, d in results.items()},
        "memory": mem, "django_memory": dmem, "cold_ms": cold, "loop": loop, "commands": commands, "wrk_args": wrk_args,
        "file_wrapper": fw, "elapsed": elapsed, "versions": versions(),
        "args": {"rounds": a.rounds, "duration": a.duration, "short": a.short, "count": a.count}}, indent=1))
    write_report(a, Path(a.out), scen, results, commands, wrk_args, cold, mem, loop, elapsed, fw, dmem=dmem)
    log(f"done in {elapsed:.0f}s; wrote {a.out}")
    return 0


def queue_cell(smp: list[Sample]) -> str:
    q = [x.accept_queue for x in smp if x.accept_queue >= 0]
    return str(max(q)) if q else "–"


def write_report(a, out: Path, scen, results, commands, wrk_args, cold, mem, loop, elapsed, fw,
                 ver: dict | None = None, dmem: dict | None = None) -> None:
    ver = ver or versions()
    L: list[str] = []
    w = L.append
    w("# Benchmarks: rw vs uWSGI vs gunicorn vs granian (and fastwsgi, bjoern)\n")
    w("Generated by `benches/compare.sh` — do not edit the numbers by hand; re-run it. "
      f"This run: {a.rounds} interleaved round(s), wrk -d{a.duration:g}s for measure 1 (GET keep-alive), "
      f"-d{a.short:g}s for the others (to fit the whole run in 20 minutes); took {elapsed / 60:.1f} min.\n")
    w("Method: every server gets one worker process and one thread unless the scenario says otherwise, "
      "runs pinned to CPU 0 (`taskset -c 0`), with request logging off; wrk runs pinned to CPU 1 "
      "(`taskset -c 1 wrk -t1 -c32 -dNs --latency`); 127.0.0.1 and unix sockets only. Each round starts "
      "every server afresh, in the same order (interleaved: A B C D, A B C D, …). Cells are "
      "**median (min–max)** over the rounds; \"vs rw\" is the per-round ratio peer/rw, median (min–max): "
      "above 1× means more req/s (better) in the r/s column and more CPU per request (worse) in the CPU "
      "column. **CPU µs/req** = utime+stime of the server's whole process tree (from /proc/PID/stat, "
      "before and after wrk) ÷ requests completed. \"errors\" = wrk socket errors (connect+read+write+timeout) "
      "summed over the rounds; \"non-2xx\" likewise. \"other load CPU 0\" is the largest share of CPU 0 "
      "(the server's core) that went to anything but the server tree during a run (other processes on this "
      "shared machine, or kernel work charged to no process such as loopback softirqs; nginx counts as server in "
      "scenario 5). High values mark possibly disturbed samples; in scenario 4 the 1 MiB transfers themselves "
      "produce a lot of such kernel work, so read it there as a property of the transfer, not contention. "
      "\"accept queue\" is the largest accept backlog of the TCP listener wrk connects to (`ss` Recv-Q), "
      "sampled at 25, 50 and 75% of each run, over the rounds: 0 means every connection was accepted "
      "(in scenario 5 it is nginx's listener).\n")
    w("With `Connection: close`, one wrk core tops out near 20k new connections/s (see the nginx ceiling): "
      "compare CPU µs/req there, not r/s. uWSGI `--http-socket` closes every connection after the response "
      "(without saying `Connection: close`), so wrk counts one read error per request and its "
      "\"keep-alive\" numbers are really per-connection numbers.\n")
    w("## Versions and machine\n")
    w("| | |\n|---|---|")
    for k, v in ver.items():
        w(f"| {k} | {v} |")
    w("")
    # summary table
    w("## Summary (medians)\n")
    keys = [m.key for sc in scen for m in sc.measures if m.key in results and not m.key.startswith("c-")]
    servers = PEERS + ["granian-defaults"] + C_PEERS
    w("| measure | " + " | ".join(servers) + " |")
    w("|---|" + "---:|" * len(servers))
    for k in keys:
        cells = []
        for s in servers:
            smp = results[k].get(s)
            if not smp:
                cells.append("–")
                continue
            cells.append(f"{fmt_n(statistics.median(x.rps for x in smp))} r/s, "
                         f"{fmt_n(statistics.median(x.cpu_us for x in smp))} µs")
        w(f"| {k} | " + " | ".join(cells) + " |")
    w("")
    w("## Scenarios\n")
    for sc in scen:
        for m in sc.measures:
            d = results.get(m.key)
            if not d:
                continue
            w(f"### {m.title}\n")
            if sc.note:
                w(sc.note + "\n")
            if sc.key == "file" and fw:
                w("`wsgi.file_wrapper` offered (else the app iterates 64 KiB reads): "
                  + ", ".join(f"{k} {v}" for k, v in fw.items()) + ".\n")
            w(f"{'client' if m.client == 'mixed' else 'wrk'}: `{wrk_args.get(m.key, '')}`\n")
            fronted = any(x.server_cpu_us >= 0 for smp in d.values() for x in smp)
            own_hdr = " server alone µs/req | vs rw |" if fronted else ""
            w("| server | req/s | vs rw | p99 ms | CPU µs/req | vs rw |" + own_hdr + " errors | non-2xx | "
              "accept queue | other load CPU 0 |")
            w("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if fronted else "") + "---:|---:|---:|---:|")
            base = d.get("rw", [])
            for s, smp in d.items():
                rr = [x.rps / b.rps for x, b in zip(smp, base)] if base and s != "rw" else []
                rc = [x.cpu_us / b.cpu_us for x, b in zip(smp, base)] if base and s != "rw" else []
                own = ""
                if fronted:
                    ro = [x.server_cpu_us / b.server_cpu_us for x, b in zip(smp, base)] if base and s != "rw" else []
                    own = f" {med_range([x.server_cpu_us for x in smp])} | {ratio(ro) if ro else '–'} |"
                w(f"| {s} | {med_range([x.rps for x in smp])} | {ratio(rr) if rr else '–'} | "
                  f"{med_range([x.p99_ms for x in smp])} | {med_range([x.cpu_us for x in smp])} | "
                  f"{ratio(rc) if rc else '–'} |{own} {sum(x.socket_errors for x in smp):,} | "
                  f"{sum(x.non2xx for x in smp):,} | {queue_cell(smp)} | {max(x.other_pct for x in smp):.0f}% |")
            w("")
            if m.client == "mixed":
                w("| server | fast p50 ms | fast p99 ms | fast p99.9 ms | slow p50 ms | fast / slow requests | "
                  "connects |")
                w("|---|---:|---:|---:|---:|---:|---:|")
                for s, smp in d.items():
                    w(f"| {s} | {med_range([x.extra['fast_p50_ms'] for x in smp])} | "
                      f"{med_range([x.p99_ms for x in smp])} | {med_range([x.extra['fast_p999_ms'] for x in smp])} | "
                      f"{med_range([x.extra['slow_p50_ms'] for x in smp])} | "
                      f"{sum(x.extra['fast'] for x in smp):,} / {sum(x.extra['slow'] for x in smp):,} | "
                      f"{sum(x.extra['connects'] for x in smp):,} |")
                w("")
    if mem:
        w(f"### 7. Memory after {a.count:,} hello requests, and cold start\n")
        w("RSS and PSS from `/proc/PID/smaps_rollup` of every process of the server's tree (master + worker; "
          "granian: main process + worker) after the requests; cold start = time from exec to the first "
          "200 on `GET /` (polled every 1 ms), measured on the hello server of every round.\n")
        w("| server | processes | RSS MiB (total) | PSS MiB (total) | per process RSS / PSS MiB | cold start ms |")
        w("|---|---:|---:|---:|---|---:|")
        for s, rows in mem.items():
            per = "; ".join(f"{r['rss'] / 1024:.1f} / {r['pss'] / 1024:.1f}" for r in rows)
            w(f"| {s} | {len(rows)} | {sum(r['rss'] for r in rows) / 1024:.1f} | "
              f"{sum(r['pss'] for r in rows) / 1024:.1f} | {per} | {med_range(cold.get(s, []))} |")
        w("")
    if dmem:
        w("### 9c. Django: memory of the whole tree, 1 and 4 worker processes\n")
        w("PSS (`/proc/PID/smaps_rollup`, KiB summed over the master and every worker) of the Django project "
          "with 1 and with 4 processes × 4 threads, after the warm-up (each view requested the same number of "
          "times, a new connection per request so that every worker serves some). \"per extra worker\" = "
          "(PSS with 4 − PSS with 1) / 3: what one more worker costs. rw and uWSGI load the app in the master "
          "and fork (copy-on-write); rw also calls `gc.freeze()` before each fork (`rw-gc-freeze`, on by "
          "default; `rw-nofreeze` is rw with `--rw-gc-freeze false`). gunicorn (no `--preload`) and granian "
          "import the app in every worker.\n")
        w("| server | PSS MiB, 1 worker | PSS MiB, 4 workers | per extra worker MiB | vs rw | RSS MiB, 4 workers |")
        w("|---|---:|---:|---:|---:|---:|")
        def extra(rows_by_n: dict) -> float | None:
            if "1" not in rows_by_n or "4" not in rows_by_n:
                return None
            return (sum(r["pss"] for r in rows_by_n["4"]) - sum(r["pss"] for r in rows_by_n["1"])) / 3 / 1024
        base = extra(dmem.get("rw", {}))
        for srv, by_n in dmem.items():
            e = extra(by_n)
            p1 = sum(r["pss"] for r in by_n.get("1", [])) / 1024
            p4 = sum(r["pss"] for r in by_n.get("4", [])) / 1024
            r4 = sum(r["rss"] for r in by_n.get("4", [])) / 1024
            vs = f"{e / base:.2f}×" if e is not None and base and srv != "rw" else "–"
            w(f"| {srv} | {p1:.1f} | {p4:.1f} | {'–' if e is None else f'{e:.1f}'} | {vs} | {r4:.1f} |")
        w("")
    w("### Ceilings\n")
    w(f"- The hello app called in a tight Python loop (`python3`, CPU 0) with a fresh 23-key environ per call "
      f"(the keys rw builds for a wrk GET): **{loop[0] / 1e3:,.0f}k calls/s ({1e6 / loop[0]:.2f} µs/call)**; "
      f"the echo app reading a 64 KiB `io.BytesIO`: **{loop[1] / 1e3:,.0f}k calls/s "
      f"({1e6 / loop[1]:.2f} µs/call)**. Everything a server spends above this is outside the WSGI call.")
    w("- nginx alone (`return 200 'Hello, World!'`, one worker, CPU 0; `keepalive_requests 1000000`): "
      "see the `ceiling:` tables above (hello keep-alive and close, and the 1 MiB file: what one wrk core takes in from nginx `sendfile`).\n")
    w("## Exact commands\n")
    w("Servers (PORT, paths and the temp dir vary per run; rw reads its ini with `BENCH_*` environment "
      "variables set by the driver, see `benches/rw-http.ini` and `benches/rw-uwsgi.ini`):\n")
    w("```")
    seen = set()
    for key, cmds in commands.items():
        for c in cmds:
            line = shlex.join(c)
            line = re.sub(r"/tmp/rw-bench-[^/ ]+", "$TMP", line).replace(str(ROOT) + "/", "")
            line = re.sub(r"127\.0\.0\.1:\d+|--port \d+|\$TMP/[\w.-]+?-\d+(\.sock|/nginx\.conf)",
                          lambda mm: mm.group(0).split(":")[0] + ":PORT" if mm.group(0).startswith("127")
                          else ("--port PORT" if mm.group(0).startswith("--port") else
                                "$TMP/" + ("SERVER.sock" if mm.group(1) == ".sock" else "nginx-PORT/nginx.conf")),
                          line)
            if line not in seen:
                seen.add(line)
                w(f"# {key}\n{line}")
    w("```\n")
    w("Generated nginx config (uwsgi_pass variant; the ceiling variant has `default_type text/plain; "
      "return 200 'Hello, World!';` in the location instead, and `location /static/ { alias $TMP/static/; "
      "sendfile on; }`): `worker_processes 1; keepalive_requests 1000000; "
      "client_body_buffer_size 128k; access_log off; location / { include /etc/nginx/uwsgi_params; "
      "uwsgi_pass unix:$TMP/SERVER.sock; }`.\n")
    report = "\n".join(L)
    old = out.read_text() if out.exists() else ""
    # The cheaper ramp block is benches/ramp.py's: kept as it is, before the profile.
    if RAMP_BEGIN in old and RAMP_END in old:
        block = old.split(RAMP_BEGIN, 1)[1].split(RAMP_END, 1)[0]
        report += "\n" + RAMP_BEGIN + block + RAMP_END + "\n"
    if PROFILE_MARKER in old:
        report += "\n" + PROFILE_MARKER + old.split(PROFILE_MARKER, 1)[1]
    else:
        report += "\n" + PROFILE_MARKER + "\n"
    out.write_text(report)


if __name__ == "__main__":
    def _term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
