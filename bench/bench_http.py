"""Throughput and latency of ``POST /v1/tickets`` at a fixed request rate, against a real uvicorn
server on 127.0.0.1 (its own process) and a real database. Prints its figures; asserts nothing.

    .venv/bin/python bench/bench_http.py [--rate 300] [--seconds 20] [--batch 1]
        [--database-url URL] [--model]

Open loop: request i is due at start + i/rate and its latency is measured from that due time, so
a slow server shows up as latency (no coordinated omission). Each ticket has a new id. By default
the server triages with the rules only and a fresh SQLite file; ``--model`` uses the default
model (``models/``), ``--database-url`` another database (e.g. PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TOKEN = "bench-token-123"
TEXTS = [
    ("Inbox down", "Nobody can log in since 9am, no workaround."),
    (
        "Export falla",
        "El export a CSV falla para algunos usuarios; copiamos a mano mientras tanto.",
    ),
    ("Question", "How do I create a message template? Not urgent."),
    ("Lentitud", "La bandeja va muy lenta desde ayer, tarda minutos en cargar los chats."),
]


def serve(port: int, database_url: str, use_model: bool) -> None:
    """The server process: the service on 127.0.0.1:port."""
    import uvicorn

    from sevtriage.service.app import create_app
    from sevtriage.service.settings import Settings
    from sevtriage.triage import Triager, default_triager

    triager = default_triager() if use_model else Triager()
    app = create_app(Settings(database_url, tokens={TOKEN: "bench"}), triager=triager)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ticket(n: int) -> dict[str, str]:
    subject, body = TEXTS[n % len(TEXTS)]
    return {
        "id": f"BENCH-{n:07d}",
        "subject": subject,
        "body": f"{body} (#{n})",
        "plan": "business_plus" if n % 2 else "pro",
        "timezone": "America/Mexico_City",
        "country": "MX",
    }


async def load(url: str, rate: float, seconds: float, batch: int) -> tuple[list[float], int, float]:
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, headers=headers, timeout=30
    ) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal errors
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            payload = [ticket(i * batch + k) for k in range(batch)] if batch > 1 else ticket(i)
            try:
                response = await client.post("/v1/tickets", json=payload)
                ok = response.status_code in (200, 201)
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - due)
            errors += not ok

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=1, help="tickets per request")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--model", action="store_true", help="triage with the default model")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # internal: server process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url, args.model)
        return
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        port = free_port()
        command = [sys.executable, __file__, "--serve", str(port), "--database-url", database_url]
        server = subprocess.Popen([*command, *(["--model"] if args.model else [])], env=os.environ)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")
            latencies, errors, elapsed = asyncio.run(load(url, args.rate, args.seconds, args.batch))
        finally:
            server.terminate()
            server.wait(timeout=30)
    n = len(latencies)
    print(
        f"POST /v1/tickets  target {args.rate:.0f} req/s x {args.seconds:.0f} s, batch {args.batch}"
    )
    print(f"  database      {database_url.split('?')[0]}")
    print(
        f"  requests      {n} in {elapsed:.1f} s = {n / elapsed:.0f} req/s "
        f"({n * args.batch / elapsed:.0f} tickets/s), errors {errors}"
    )
    print(
        f"  latency (ms)  p50 {percentile(latencies, 0.5) * 1000:.1f}  "
        f"p90 {percentile(latencies, 0.9) * 1000:.1f}  "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f}  "
        f"max {max(latencies) * 1000:.1f}  mean {statistics.mean(latencies) * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
