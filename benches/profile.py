#!/usr/bin/env python3
"""Where rw's time goes on scenarios 1 (hello keep-alive) and 2 (hello `Connection: close`).

Writes the section after compare.py's PROFILE_MARKER in BENCHMARKS.md:
  * top symbols: `perf record -e <hw cycles>` when `perf stat -e instructions true` works, else
    valgrind callgrind (instructions) on the worker only, instrumentation switched on after start-up,
    over a bounded number of requests;
  * perf with the software `cpu-clock` event when perf can sample at all (kernel included);
  * syscalls per request: `strace -c -f -p WORKER` over a bounded run, rw and uWSGI side by side.
Standard library only; run through benches/profile.sh.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as C  # noqa: E402

CLOSE = ["-H", "Connection: close"]


def workers(master: int) -> list[int]:
    return [p for p in C.tree(master) if p != master]


def bounded(addr: tuple[str, int], count: int, args: list[str], deadline_s: float = 600) -> int:
    """`count` requests (wrk slices with count.lua, as compare.send_count)."""
    done, end = 0, time.monotonic() + deadline_s
    while done < count and time.monotonic() < end:
        out = subprocess.run(["taskset", "-c", C.CLIENT_CPU, "wrk", "-t1", "-c32", "-d2s", "-s",
                              str(C.BENCH / "count.lua"), *args, f"http://{addr[0]}:{addr[1]}/"],
                             env=os.environ | {"BENCH_COUNT": str(count - done)}, capture_output=True, text=True)
        m = re.search(r"(\d+) requests in", out.stdout)
        if not m:
            raise C.BenchError(f"wrk: {out.stdout}{out.stderr}")
        done += int(m.group(1))
    return done


def start_rw(tmp: Path, ports: C.Ports, prefix: list[str], extra_env: dict | None = None
             ) -> tuple[C.Proc, tuple[str, int]]:
    port = ports.take()
    env = os.environ | (extra_env or {}) | {"BENCH_ADDR": f"127.0.0.1:{port}", "BENCH_APP": str(C.BENCH / "hello.py"),
                        "BENCH_THREADS": "1", "BENCH_HOME": str(C.VENV)}
    cmd = ["taskset", "-c", C.SERVER_CPU, *prefix, str(C.RW), "serve", "--ini", str(C.BENCH / "rw-http.ini")]
    p = C.spawn(f"rw-{port}", cmd, env, C.BENCH, tmp)
    addr = ("127.0.0.1", port)
    C.wait_ready([p], addr, time.monotonic(), timeout=120)
    return p, addr


def start_uwsgi(tmp: Path, ports: C.Ports) -> tuple[C.Proc, tuple[str, int]]:
    port = ports.take()
    cmd, _ = C.server_cmd("uwsgi", C.Setup("hello.py"), port, tmp / "x.sock", tmp)
    p = C.spawn(f"uwsgi-{port}", cmd, dict(os.environ), C.BENCH, tmp)
    addr = ("127.0.0.1", port)
    C.wait_ready([p], addr, time.monotonic())
    return p, addr


# ---------------------------------------------------------------- callgrind


def annotate(path: str, n: int) -> tuple[int, list[tuple[float, str]], str]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out, re.M).group(1).replace(",", ""))
    rows = []
    for m in re.finditer(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)$", out, re.M):
        name = m.group(3)
        if "PROGRAM TOTALS" in name:
            continue
        rows.append((float(m.group(2)), name))
        if len(rows) >= n:
            break
    incl = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                          capture_output=True, text=True, check=True).stdout
    return total, rows, incl


def short(sym: str, keep_file: bool = False) -> str:
    """`file:function [object]` → `function` (or `file.rs: function`, file shortened)."""
    sym = re.sub(r"\s*\[[^\]]*\]$", "", sym)  # object file
    m = re.match(r"^(.*?):(?!:)(.*)$", sym)
    if m:
        f, sym = m.groups()
        if keep_file and f != "???":
            f = re.sub(r"^.*?/(src/|library/|pyo3[^/]*/src/)", r"\1", f)
            sym = f"{f}: {sym}"
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    return sym if len(sym) < 120 else sym[:117] + "…"


def callers(path: str, target: str, n: int = 6) -> list[tuple[float, str]]:
    """Top callers (self cost spent in `target` on their behalf) from callgrind_annotate --tree=caller."""
    out = subprocess.run(["callgrind_annotate", "--tree=caller", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    rows: list[tuple[float, str]] = []
    block: list[tuple[float, str]] = []
    for line in out.splitlines():
        m = re.match(r"^\s*[\d,]+ \(\s*([\d.]+)%\)\s+<\s+(.*?)(?: \(\d+x\))?(?: \[.*\])?$", line)
        if m:
            block.append((float(m.group(1)), m.group(2)))
            continue
        m = re.match(r"^\s*[\d,]+ \(\s*[\d.]+%\)\s+\*\s+(.*)$", line)
        if m:
            if target in m.group(1):
                rows += block
            block = []
    return sorted(rows, reverse=True)[:n]


def obj_of(sym: str) -> str:
    m = re.search(r"\[([^\]]*)\]$", sym)
    return Path(m.group(1)).name if m else ""


def callgrind(tmp: Path, ports: C.Ports, n_ka: int, n_close: int) -> dict:
    """One server per mode under callgrind; only code under the worker's thread loop is collected
    (`--toggle-collect`), so start-up and the master are left out. The worker writes its profile
    when it exits."""
    res: dict = {}
    for key, n, args in (("keepalive", n_ka, []), ("close", n_close, CLOSE)):
        outdir = tmp / f"cg-{key}"
        outdir.mkdir()
        # Options through VALGRIND_OPTS: rw's process title overwrites the argv block, which under
        # valgrind holds valgrind's own options (the forked worker then sees an empty out-file).
        opts = {"VALGRIND_OPTS": f"--collect-atstart=no --toggle-collect=*thread_loop* "
                                 f"--callgrind-out-file={outdir}/cg.%p"}
        p, addr = start_rw(tmp, ports, ["valgrind", "--tool=callgrind"], opts)
        try:
            ws = workers(p.pid)
            if len(ws) != 1:
                raise C.BenchError(f"expected one worker under valgrind, found {ws}")
            done = bounded(addr, n, args) + 1  # + the readiness probe
            # A graceful exit (SIGHUP to the worker: it finishes and exits normally) lets callgrind
            # write the profile; SIGINT makes it _exit from the signal handler.
            os.kill(ws[0], signal.SIGHUP)
            end = time.monotonic() + 120
            while Path(f"/proc/{ws[0]}").exists() and time.monotonic() < end:
                time.sleep(0.2)
        finally:
            C.stop(p)
        path = outdir / f"cg.{ws[0]}"
        if not path.exists() or path.stat().st_size == 0:
            raise C.BenchError(f"no callgrind output {path}")
        total, rows, incl = annotate(str(path), 25)
        rw_incl = []
        for m in re.finditer(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*rw::.*)$", incl, re.M):
            name = short(m.group(3), keep_file=True)
            if not re.search(r"rw::(main|cmd::main|server::serve|server::master|server::worker::run)\b", name):
                rw_incl.append((float(m.group(2)), name))
        keep = C.ROOT / "target" / "bench" / f"callgrind.{key}.out"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep)
        res[key] = {"requests": done, "total": total, "rows": rows, "rw_incl": rw_incl[:22],
                    "callers": {t: callers(str(path), t) for t in ("memset", ":malloc", "_int_free")}}
        C.log(f"callgrind {key}: {done} requests, {total / done:,.0f} instructions/request")
    return res


# ---------------------------------------------------------------- perf (software clock)


def perf_works(hw: bool) -> bool:
    ev = "instructions" if hw else "cpu-clock"
    r = subprocess.run(["perf", "stat", "-x,", "-e", ev, "true"], capture_output=True, text=True)
    return r.returncode == 0 and "not supported" not in r.stderr and "<not" not in r.stderr


def perf_profile(tmp: Path, ports: C.Ports, seconds: float, event: str) -> dict:
    p, addr = start_rw(tmp, ports, [])
    res: dict = {}
    try:
        w = workers(p.pid)[0]
        for key, args in (("keepalive", []), ("close", CLOSE)):
            data = tmp / f"perf-{key}.data"
            wrk = subprocess.Popen(["taskset", "-c", C.CLIENT_CPU, "wrk", "-t1", "-c32", f"-d{seconds + 2:g}s", *args,
                                    f"http://{addr[0]}:{addr[1]}/"], stdout=subprocess.DEVNULL)
            try:
                time.sleep(1)
                subprocess.run(["perf", "record", "-q", "-e", event, "-F", "4999", "-p", str(w), "-o", str(data),
                                "--", "sleep", f"{seconds:g}"], capture_output=True, check=True)
            finally:
                wrk.wait()
            rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort",
                                  "dso,sym", "--percent-limit", "0.7"], capture_output=True, text=True).stdout
            rows = []
            for m in re.finditer(r"^\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.+)$", rep, re.M):
                rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()))
            kern = sum(r[0] for r in rows if r[2] == "k")
            res[key] = {"rows": rows[:25], "kernel_listed": kern}
    finally:
        C.stop(p)
    return res


# ---------------------------------------------------------------- strace


def strace_counts(tmp: Path, ports: C.Ports, server: str, n_ka: int, n_close: int) -> dict:
    p, addr = start_rw(tmp, ports, []) if server == "rw" else start_uwsgi(tmp, ports)
    res: dict = {}
    try:
        w = workers(p.pid)[0]
        bounded(addr, 200, [])
        for key, n, args in (("keepalive", n_ka, []), ("close", n_close, CLOSE)):
            out = tmp / f"strace-{server}-{key}.txt"
            st = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), "-p", str(w)],
                                  stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            try:
                done = bounded(addr, n, args)
            finally:
                st.send_signal(signal.SIGINT)
                st.wait(timeout=30)
            calls = {}
            for line in out.read_text().splitlines():
                m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$", line)
                if m and m.group(3) != "total":
                    calls[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
            res[key] = {"requests": done, "calls": calls}
            C.log(f"strace {server} {key}: {sum(c for c, _ in calls.values()) / done:.2f} syscalls/request")
    finally:
        C.stop(p)
    return res


# ---------------------------------------------------------------- report


def write(out: Path, cg: dict | None, perf: dict | None, perf_event: str, st: dict, hw: bool, args) -> None:
    L: list[str] = []
    w = L.append
    w("\n## Where rw's time goes (scenarios 1 and 2)\n")
    w(f"Generated by `benches/profile.sh` on the same machine (rw {C.versions()['rw']}); hello app, one "
      "worker, one thread, `disable-logging`. Hardware counters: "
      + ("available, so perf samples cycles." if hw else
         "**not available** in this VM (`perf stat -e instructions true` reports `<not supported>`), so "
         "user-space cost is counted with valgrind callgrind (instructions; worker process only, collected "
         "inside its thread loop, so start-up is left out)" +
         (f", and wall-clock cost including the kernel is sampled with perf's software `{perf_event}` event."
          if perf else ".")) + "\n")
    if cg:
        w("### Instructions per request (callgrind, user space only)\n")
        w("| mode | requests | instructions/request |")
        w("|---|---:|---:|")
        for k, v in cg.items():
            w(f"| {k} | {v['requests']:,} | {v['total'] / v['requests']:,.0f} |")
        w("")
        for k, v in cg.items():
            w(f"Inclusive cost of rw's functions, {k} (`file: function` — with LTO much is inlined, so the file "
              "says whose code it is: e.g. `src/python/environ.rs: rw::python::call::call_app` is build_environ "
              "inlined into call_app; the callgrind file is kept in `target/bench/`):\n")
            w("| % incl | file: function |")
            w("|---:|---|")
            for pct, name in v["rw_incl"]:
                w(f"| {pct:.1f} | `{name}` |")
            w("")
            w(f"Who calls the allocator and memset ({k}; % of all instructions spent in the callee for that caller):\n")
            w("| callee | % | caller |")
            w("|---|---:|---|")
            for t, rows in v["callers"].items():
                for pct, name in rows:
                    if pct >= 0.1:
                        w(f"| `{t.strip(':')}` | {pct:.1f} | `{short(name, keep_file=True)}` |")
            w("")
        for k, v in cg.items():
            w(f"Top symbols, self cost, {k} ({v['requests']:,} requests):\n")
            w("| % self | symbol | object |")
            w("|---:|---|---|")
            for pct, name in v["rows"][:20]:
                w(f"| {pct:.1f} | `{short(name, keep_file=obj_of(name) in ('', 'rw'))}` | {obj_of(name)} |")
            w("")
    if perf:
        for k, v in perf.items():
            w(f"perf `{perf_event}` samples of the worker, {k} (wrk running; [k] = kernel; listed rows "
              f"≥0.7%, of which kernel {v['kernel_listed']:.0f}%):\n")
            w("| % | object | | symbol |")
            w("|---:|---|---|---|")
            for pct, dso, ku, sym in v["rows"][:20]:
                w(f"| {pct:.1f} | {dso} | {ku} | `{short(sym)}` |")
            w("")
    w("### Syscalls per request (`strace -c -f -p WORKER`, bounded run)\n")
    names = sorted({n for srv in st.values() for m in srv.values() for n in m["calls"]},
                   key=lambda n: -max(m["calls"].get(n, (0, 0))[0] / m["requests"] for srv in st.values()
                                      for m in srv.values()))
    cols = [(srv, mode) for srv in st for mode in st[srv]]
    w("| syscall | " + " | ".join(f"{s} {m}" for s, m in cols) + " |")
    w("|---|" + "---:|" * len(cols))
    for n in names:
        cells = []
        for s, m in cols:
            c, e = st[s][m]["calls"].get(n, (0, 0))
            per = c / st[s][m]["requests"]
            cells.append("–" if c == 0 else f"{per:.2f}" + (f" ({e / st[s][m]['requests']:.2f} err)" if e else ""))
        w(f"| {n} | " + " | ".join(cells) + " |")
    w("| **total** | " + " | ".join(
        f"**{sum(c for c, _ in st[s][m]['calls'].values()) / st[s][m]['requests']:.2f}**" for s, m in cols) + " |")
    w("\nRequests: " + ", ".join(f"{s} {m} {st[s][m]['requests']:,}" for s, m in cols) +
      ". uWSGI `--http-socket` closes after every response, so its two columns are the same mode.\n")
    analysis = Path(__file__).with_name("profile-notes.md")
    if analysis.exists():
        w(analysis.read_text())
    old = out.read_text() if out.exists() else C.PROFILE_MARKER + "\n"
    head = old.split(C.PROFILE_MARKER, 1)[0]
    out.write_text(head + C.PROFILE_MARKER + "\n" + "\n".join(L))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=20000, help="keep-alive requests under callgrind")
    ap.add_argument("--close-requests", type=int, default=5000)
    ap.add_argument("--strace-requests", type=int, default=20000)
    ap.add_argument("--out", default=str(C.ROOT / "BENCHMARKS.md"))
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rw-profile-"))
    ports = C.Ports()
    hw = perf_works(hw=True)
    try:
        cg = perf = None
        event = "cycles" if hw else "cpu-clock"
        if hw or perf_works(hw=False):
            C.log(f"perf record -e {event}")
            perf = perf_profile(tmp, ports, 5, event)
        if not hw:
            C.log("callgrind")
            cg = callgrind(tmp, ports, a.requests, a.close_requests)
        st = {}
        for server in ("rw", "uwsgi"):
            C.log(f"strace {server}")
            st[server] = strace_counts(tmp, ports, server, a.strace_requests, a.strace_requests // 2)
    except C.BenchError as e:
        C.log(f"FAILED: {e}")
        return 1
    finally:
        C.stop_all()
    write(Path(a.out), cg, perf, event, st, hw, a)
    shutil.rmtree(tmp, ignore_errors=True)
    C.log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        C.stop_all()
        sys.exit(130)
