"""A keep-alive HTTP/1.1 load generator on raw asyncio sockets, run in its own process.

    python bench/loadgen.py URL --concurrency 8 (--duration S | --requests N) [--header 'Name: value']... --body JSON

It sends the same pre-encoded POST on every connection, back to back, and reads each response
by its Content-Length: no HTTP library sits between the socket and the count, so one core of
this generator drives far more requests per second than one uvicorn worker can answer (its own
CPU use is reported as `client_cpu`, to show it). Every response must have the `status` (200)
and a body holding `expect`, or it counts as an error. Prints one JSON object.

With `--token-file` (one bearer token a line), the first token goes on every request but each
`--fresh-every`-th, which takes the next of the others in turn: a trickle of tokens the server has
never seen among the repeated one, as when new clients keep arriving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit


def build_request(url: str, body: bytes, headers: list[str]) -> bytes:
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    else:
        raise ValueError("no Content-Length: this client reads only sized responses")
    return status, await reader.readexactly(length)


async def worker(
    host: str,
    port: int,
    requests: Callable[[int], bytes],
    check: tuple[int, bytes],
    stop: dict[str, float],
    stats: dict[str, int],
    latencies: list[float],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while True:
            sent_at = clock()
            if stats["sent"] >= stop["requests"] or sent_at >= stop["deadline"]:
                return
            writer.write(requests(stats["sent"]))
            stats["sent"] += 1
            status, body = await read_response(reader)
            latencies.append(clock() - sent_at)
            if status == check[0] and check[1] in body:
                stats["ok"] += 1
            else:
                stats["errors"] += 1
                if stats["errors"] == 1:
                    stats["first_error"] = f"{status} {body[:200]!r}"  # type: ignore[assignment]
    finally:
        writer.close()


def request_chooser(args: argparse.Namespace) -> Callable[[int], bytes]:
    """The bytes of the n-th request: the same every time, or with a fresh token every `fresh_every`-th."""
    body = args.body.encode()
    request = build_request(args.url, body, args.header)
    if not args.token_file:
        return lambda _: request
    tokens = Path(args.token_file).read_text().split()
    variants = [build_request(args.url, body, [*args.header, f"Authorization: Bearer {t}"]) for t in tokens]
    every, fresh = args.fresh_every, variants[1:] or variants

    def choose(n: int) -> bytes:
        return fresh[(n // every) % len(fresh)] if n % every == every - 1 else variants[0]

    return choose


async def run(args: argparse.Namespace, requests: Callable[[int], bytes]) -> dict[str, object]:
    parts = urlsplit(args.url)
    stats: dict[str, int] = {"sent": 0, "ok": 0, "errors": 0}
    start = time.perf_counter()
    stop = {
        "requests": float(args.requests or "inf"),
        "deadline": start + (args.duration or float("inf")),
    }
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    check = (args.status, args.expect.encode())
    latencies: list[float] = []
    await asyncio.gather(
        *(
            worker(parts.hostname or "127.0.0.1", parts.port or 80, requests, check, stop, stats, latencies)
            for _ in range(args.concurrency)
        )
    )
    elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "requests": stats["ok"] + stats["errors"],
        "ok": stats["ok"],
        "errors": stats["errors"],
        "first_error": stats.get("first_error"),
        "seconds": elapsed,
        "rps": stats["ok"] / elapsed if elapsed else 0.0,
        "client_cpu": cpu / elapsed if elapsed else 0.0,
        "latency_ms_median": statistics.median(latencies) * 1000 if latencies else 0.0,
        "latency_ms_p99": statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 1 else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=0.0, help="seconds (0: until --requests)")
    parser.add_argument("--requests", type=int, default=0, help="total requests (0: until --duration)")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--body", required=True)
    parser.add_argument("--expect", default='"isError":false', help="every response body must contain this")
    parser.add_argument("--status", type=int, default=200, help="every response must have this status")
    parser.add_argument("--token-file", help="bearer tokens, one a line: the first repeated, the others fresh")
    parser.add_argument("--fresh-every", type=int, default=100, help="every Nth request takes a fresh token")
    args = parser.parse_args(argv)
    if not (args.duration or args.requests):
        parser.error("give --duration or --requests")
    print(json.dumps(asyncio.run(run(args, request_chooser(args)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
