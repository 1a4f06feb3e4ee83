"""Load generator of the mixed scenario: CONNS keep-alive connections, each sending GETs one at
a time for SECONDS; every 10th request of a connection (offset by its number, so the slow ones
are spread) is `/slow`, the others `/`. Latency per request, from the first byte sent to the
last byte of the response, is kept apart for fast and slow requests. A server that closes the
connection after a response (uWSGI's --http-socket does, without saying so) costs a reconnect;
the retried request keeps its start time. Prints one JSON object. Standard library only.

    mixedload.py HOST PORT CONNS SECONDS
"""

import asyncio
import json
import re
import sys
import time

LEN = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


async def one_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    m = LEN.search(head)
    if m:
        await reader.readexactly(int(m.group(1)))
    closing = b"connection: close" in head.lower()
    return status, closing


async def client(n: int, host: str, port: int, end: float, out: dict) -> None:
    reader = writer = None
    i = n
    while time.monotonic() < end:
        slow = i % 10 == 0
        i += 1
        req = b"GET /slow HTTP/1.1\r\nHost: bench\r\n\r\n" if slow else b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
        t0 = time.perf_counter()
        for attempt in range(3):
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                    out["connects"] += 1
                writer.write(req)
                status, closing = await one_response(reader)
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                if writer is not None:
                    writer.close()
                reader = writer = None
                if attempt == 2:
                    out["errors"] += 1
                    status, closing = 0, True
        dt = time.perf_counter() - t0
        if status == 200:
            out["slow" if slow else "fast"].append(dt)
        elif status:
            out["non2xx"] += 1
        if closing and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def pct(v: list[float], p: float) -> float:
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] * 1e3


async def main() -> None:
    host, port, conns, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    out = {"fast": [], "slow": [], "errors": 0, "non2xx": 0, "connects": 0}
    t0 = time.monotonic()
    await asyncio.gather(*(client(n, host, port, t0 + seconds, out) for n in range(conns)))
    wall = time.monotonic() - t0
    f, s = out["fast"], out["slow"]
    print(json.dumps({
        "requests": len(f) + len(s), "rps": (len(f) + len(s)) / wall, "fast": len(f), "slow": len(s),
        "fast_p50_ms": pct(f, 50), "fast_p99_ms": pct(f, 99), "fast_p999_ms": pct(f, 99.9),
        "slow_p50_ms": pct(s, 50), "slow_p99_ms": pct(s, 99),
        "errors": out["errors"], "non2xx": out["non2xx"], "connects": out["connects"], "wall_s": wall,
    }))


if __name__ == "__main__":
    asyncio.run(main())
