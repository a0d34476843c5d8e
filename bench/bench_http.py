"""Latency and throughput of ``POST /v1/tickets`` (one ticket per request) against the real
``sevtriage serve`` process on 127.0.0.1 and a real database. Prints a table; asserts nothing.

    .venv/bin/python bench/bench_http.py [--rate 300] [--seconds 60] [--find-max]
        [--database-url URL] [--workers N] [--no-model] [--json]

Open loop: request i is due at start + i/rate and its latency is measured from that due time to
the last byte of the answer, so a server that falls behind shows up as latency (no coordinated
omission). The load generator is a few lines of asyncio over raw keep-alive HTTP/1.1 connections
(uvloop when installed), with its garbage collector off while it measures (its own pauses would
count as latency), built to cost the server as little of the machine as possible: its own
CPU share is reported, as is the server's CPU time per request (the figure to compare on a busy
machine) and the cores other processes used meanwhile (latencies are only comparable when that is
near 0). Requests still unanswered ``--drain`` seconds after the last one was due count as errors
(with their latency so far).

Tickets are generated text in English and Spanish (``data/tools/generate_corpus.py``, seed 7),
each posted once with a new id, without ``created_at`` (the intake time is used), ``language``
(detected) or ``label``. The server triages with the default model (the product default;
``--no-model`` for rules only) on a fresh SQLite file, or on ``--database-url`` (a PostgreSQL URL
gets a fresh schema, dropped afterwards). Before measuring, ``--warmup`` seconds at the target
rate fill the server's caches (holiday tables, model, statement cache).

``--find-max`` then searches the highest rate whose p99 stays under ``--p99-limit`` ms (50) with
no errors: from ``--rate`` / 2, rates double until one fails (or halve until one passes), then
bisect, each with a ``--step-seconds`` run; the best is confirmed with a ``--seconds`` run
(stepping down 10 % at a time if it fails). The server's
peak RSS is the sum of VmHWM (/proc) over its processes (the uvicorn supervisor and every worker
with ``--workers``). ``--json`` prints one JSON object on standard output and the rest on
standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-123"
HEADER_END = b"\r\n\r\n"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- tickets ---------------------------------------------------------------------------------


def corpus(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` generated tickets (both languages) as the API takes them."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus.jsonl"
        script = REPO / "data" / "tools" / "generate_corpus.py"
        subprocess.run(
            [sys.executable, str(script), "--n", str(n), "--seed", str(seed), "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        records = [json.loads(line) for line in out.open(encoding="utf-8")]
    for record in records:
        for key in ("created_at", "language", "label"):
            record.pop(key, None)
    return records


class Requests:
    """Ready-to-send HTTP/1.1 requests: every one a corpus ticket under a new id."""

    def __init__(self, tickets: list[dict[str, Any]], port: int) -> None:
        self.tickets = tickets
        self.prefix = (
            "POST /v1/tickets HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()
        self.run = uuid.uuid4().hex[:8]
        self.sent = 0

    def take(self, n: int) -> list[bytes]:
        out = []
        for k in range(self.sent, self.sent + n):
            ticket = {**self.tickets[k % len(self.tickets)], "id": f"B-{self.run}-{k:07d}"}
            body = json.dumps(ticket, ensure_ascii=False).encode()
            out.append(self.prefix + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.sent += n
        return out


# -- the load generator ----------------------------------------------------------------------


@dataclass
class RunResult:
    target_rate: float
    seconds: float
    latencies: list[float]  # seconds, one per request (unanswered ones: time waited so far)
    statuses: Counter[str]
    elapsed: float  # from the first due time to the last answer
    client_cpu: float  # seconds of CPU used by this (load generator) process
    server_cpu: float  # seconds of CPU used by the server's processes
    machine_cpu: float = 0.0  # seconds of CPU used on the whole machine (/proc/stat)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in ("200", "201"))

    @property
    def answered(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.isdigit())

    @property
    def rate(self) -> float:
        return self.answered / self.elapsed if self.elapsed else 0.0

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def others_cores(self) -> float:
        """Cores used meanwhile by everything but the server and the load generator: what
        shared the machine with the run (its latencies are only comparable when this is ~0)."""
        others = self.machine_cpu - self.server_cpu - self.client_cpu
        return max(0.0, others) / self.elapsed if self.elapsed else 0.0

    def passes(self, p99_limit_ms: float) -> bool:
        return self.errors == 0 and self.ms(0.99) < p99_limit_ms

    def line(self) -> str:
        n = len(self.latencies)
        return (
            f"{self.target_rate:6.0f} req/s x {self.seconds:.0f} s: {n} requests, "
            f"{self.rate:.0f} req/s answered, errors {self.errors}; ms p50 {self.ms(0.5):.1f} "
            f"p90 {self.ms(0.9):.1f} p99 {self.ms(0.99):.1f} max {self.ms(1.0):.1f}; "
            f"server CPU {1000 * self.server_cpu / max(n, 1):.2f} ms/req, "
            f"load generator {100 * self.client_cpu / max(self.elapsed, 1e-9):.0f} % of a core, "
            f"other processes {self.others_cores:.2f} cores"
        )


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[str, bool]:
    """Send one request, read its whole answer: (status, connection still usable)."""
    writer.write(request)
    head = await reader.readuntil(HEADER_END)
    status = head[9:12].decode()
    length = 0
    keep = True
    for line in head.lower().split(b"\r\n")[1:]:
        if line.startswith(b"content-length:"):
            length = int(line[15:])
        elif line.startswith(b"connection:") and b"close" in line:
            keep = False
    await reader.readexactly(length)
    return status, keep


async def load(
    port: int, requests: list[bytes], rate: float, connections: int, drain: float, server: Server
) -> RunResult:
    """Post ``requests`` at ``rate`` over up to ``connections`` keep-alive connections."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    latencies: list[float | None] = [None] * len(requests)
    statuses: Counter[str] = Counter()
    finished = loop.create_future()
    done = 0

    def record(i: int, due: float, status: str) -> None:
        nonlocal done
        latencies[i] = time.perf_counter() - due
        statuses[status] += 1
        done += 1
        if done == len(requests) and not finished.done():
            finished.set_result(None)

    async def worker() -> None:
        reader = writer = None
        while True:
            i, due = await queue.get()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                assert reader is not None
                status, keep = await _exchange(reader, writer, requests[i])
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                status, keep = type(exc).__name__, False
            record(i, due, status)
            if not keep and writer is not None:
                writer.close()
                reader = writer = None

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    cpu0, server0, machine0 = time.process_time(), server.cpu_seconds(), machine_cpu_seconds()
    # perf_counter, not loop.time(): uvloop's clock only has millisecond resolution.
    start = time.perf_counter() + 0.05
    for i in range(len(requests)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, due))
    last_due = start + (len(requests) - 1) / rate
    with suppress(TimeoutError):
        await asyncio.wait_for(finished, timeout=max(0.0, last_due + drain - time.perf_counter()))
    end = time.perf_counter()
    client_cpu, server_cpu = time.process_time() - cpu0, server.cpu_seconds() - server0
    machine_cpu = machine_cpu_seconds() - machine0
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    for i, value in enumerate(latencies):
        if value is None:  # never answered: an error, with the time it has waited so far
            latencies[i] = end - (start + i / rate)
            statuses["unanswered"] += 1
    measured = [v for v in latencies if v is not None]
    return RunResult(
        rate,
        len(requests) / rate,
        measured,
        statuses,
        end - start,
        client_cpu,
        server_cpu,
        machine_cpu,
    )


def run_async(coroutine: Coroutine[Any, Any, RunResult]) -> RunResult:
    """Run on uvloop when it is installed (it comes with uvicorn[standard]), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


@contextmanager
def no_pauses() -> Iterator[None]:
    """The load generator's garbage collector off (what is alive frozen first). A full
    collection here walks the corpus and every module: 50-200 ms during which requests are sent
    and answers read late, which this open-loop generator counts as the server's latency (on a
    quiet machine: p99 36-127 ms with it on, 6-7 ms off)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def run_rate(
    server: Server, requests: Requests, rate: float, seconds: float, args: argparse.Namespace
) -> RunResult:
    batch = requests.take(max(1, round(rate * seconds)))
    with no_pauses():
        result = run_async(load(server.port, batch, rate, args.connections, args.drain, server))
    server.wait_idle()
    return result


# -- the server ------------------------------------------------------------------------------


def machine_cpu_seconds() -> float:
    """CPU time used by the whole machine so far (every state of /proc/stat but idle and
    iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


@dataclass
class Server:
    """``sevtriage serve`` in its own process group; its process tree read from /proc."""

    process: subprocess.Popen[bytes]
    port: int
    workers: int
    peak_rss_kb: dict[int, int] = field(default_factory=dict)

    def pids(self) -> list[int]:
        tree, found, todo = _children(), [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(tree.get(pid, []))
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLOCK_TICKS

    def record_peak_rss(self) -> None:
        """VmHWM of every process of the server, kept across calls (a process may be gone)."""
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb[pid] = max(self.peak_rss_kb.get(pid, 0), int(line.split()[1]))

    @property
    def peak_rss_mb(self) -> float:
        return sum(self.peak_rss_kb.values()) / 1024

    def wait_idle(self, seconds: float = 60.0) -> None:
        """Wait until the server answers health checks quickly (its backlog is drained)."""
        deadline = time.monotonic() + seconds
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    client.get("/healthz")
                except httpx.HTTPError:
                    continue
                if time.perf_counter() - started < 0.02:
                    break
                time.sleep(0.2)
        self.record_peak_rss()
        time.sleep(1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server of ``url``; the URL to use it; dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"sevtriage_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    fresh = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield fresh.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url and url.startswith("postgresql"):
        with postgres_schema(url) as fresh:
            yield fresh
    elif url:
        yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def serving(database_url: str, args: argparse.Namespace) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "sevtriage", "serve", "--port", str(port)]
    command += ["--log-level", "warning"]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.no_model:
        command += ["--no-model"]
    env = {
        **os.environ,
        "SEVTRIAGE_DATABASE_URL": database_url,
        "SEVTRIAGE_API_TOKENS": f"bench:{TOKEN}",
    }
    process = subprocess.Popen(command, env=env, stdout=sys.stderr, start_new_session=True)
    server = Server(process, port, args.workers)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with status {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 120 s")
            time.sleep(0.2)
        yield server
        server.record_peak_rss()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the search for the highest rate ---------------------------------------------------------


def find_max(
    server: Server, requests: Requests, args: argparse.Namespace
) -> tuple[float | None, list[RunResult]]:
    """The highest rate (req/s) whose p99 stays under the limit with no errors, and every run."""
    runs: list[RunResult] = []

    def attempt(rate: float, seconds: float) -> bool:
        result = run_rate(server, requests, rate, seconds, args)
        runs.append(result)
        log("  " + result.line())
        return result.passes(args.p99_limit)

    rate = max(10.0, args.rate / 2)
    if attempt(rate, args.step_seconds):  # up by doubling until a rate fails
        good, bad = rate, rate * 2
        while attempt(bad, args.step_seconds):
            good, bad = bad, bad * 2
    else:  # down by halving until one passes
        good, bad = rate / 2, rate
        while not attempt(good, args.step_seconds):
            if good < 10:
                return None, runs
            good, bad = good / 2, good
    while bad - good > max(10.0, 0.05 * good):
        middle = round((good + bad) / 2)
        if attempt(middle, args.step_seconds):
            good = middle
        else:
            bad = middle
    for _ in range(4):
        if attempt(good, args.seconds):
            return good, runs
        good = round(good * 0.9)
    return None, runs


# -- report ----------------------------------------------------------------------------------


def figures(
    args: argparse.Namespace,
    database_url: str,
    fixed: RunResult,
    best: float | None,
    server: Server,
) -> dict[str, Any]:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    workers = f"{args.workers} worker process{'es' if args.workers > 1 else ''}"
    notes = (
        f"{backend}, {'rules only' if args.no_model else 'default model'}, {workers}, "
        f"1 ticket/request, open loop over {args.connections} keep-alive connections; "
        f"load generator on the same machine ({os.cpu_count()} CPUs) used "
        f"{100 * fixed.client_cpu / max(fixed.elapsed, 1e-9):.0f} % of a core; "
        f"server CPU {1000 * fixed.server_cpu / max(len(fixed.latencies), 1):.2f} ms/request; "
        f"peak RSS = sum of VmHWM over {len(server.peak_rss_kb)} server processes; "
        f"other processes used {fixed.others_cores:.2f} cores during the run; "
        f"load average before {args.load_before}"
    )
    return {
        "http_target_rate": fixed.target_rate,
        "http_seconds": fixed.seconds,
        "http_rate": round(fixed.rate, 1),
        "http_requests": len(fixed.latencies),
        "http_errors": fixed.errors,
        "http_p50_ms": round(fixed.ms(0.5), 2),
        "http_p90_ms": round(fixed.ms(0.9), 2),
        "http_p99_ms": round(fixed.ms(0.99), 2),
        "http_max_ms": round(fixed.ms(1.0), 2),
        "http_max_rate_p99_under_50ms": best,
        "http_server_cpu_ms_per_request": round(
            1000 * fixed.server_cpu / max(len(fixed.latencies), 1), 3
        ),
        "http_loadgen_cpu_share": round(fixed.client_cpu / max(fixed.elapsed, 1e-9), 3),
        "http_other_processes_cores": round(fixed.others_cores, 2),
        "service_peak_rss_mb": round(server.peak_rss_mb, 1),
        "service_workers": args.workers,
        "database": backend,
        "model": not args.no_model,
        "statuses": dict(fixed.statuses),
        "notes": notes,
    }


def print_table(found: dict[str, Any], runs: list[RunResult]) -> None:
    rows = [
        ("database", found["database"]),
        ("server", f"{found['service_workers']} worker(s), model {found['model']}"),
        ("target", f"{found['http_target_rate']:.0f} req/s x {found['http_seconds']:.0f} s"),
        ("answered", f"{found['http_rate']:.1f} req/s, {found['http_requests']} requests"),
        ("errors", f"{found['http_errors']} {found['statuses']}"),
        (
            "latency ms",
            f"p50 {found['http_p50_ms']:.1f}  p90 {found['http_p90_ms']:.1f}  "
            f"p99 {found['http_p99_ms']:.1f}  max {found['http_max_ms']:.1f}",
        ),
        ("server CPU", f"{found['http_server_cpu_ms_per_request']:.2f} ms/request"),
        ("load generator", f"{100 * found['http_loadgen_cpu_share']:.0f} % of one core"),
        ("other processes", f"{found['http_other_processes_cores']:.2f} cores meanwhile"),
        ("max rate, p99<50ms", str(found["http_max_rate_p99_under_50ms"] or "-")),
        ("server peak RSS", f"{found['service_peak_rss_mb']:.0f} MB (sum of VmHWM)"),
    ]
    width = max(len(name) for name, _ in rows)
    out = sys.stderr if found.get("_json") else sys.stdout
    print("POST /v1/tickets", file=out)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}", file=out)
    if runs:
        print("  search runs:", file=out)
        for run in runs:
            print("    " + run.line(), file=out)
    print(f"  notes: {found['notes']}", file=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at --rate first")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--threads", type=int, help="serve --threads (default: serve's)")
    parser.add_argument("--no-model", action="store_true", help="rules only")
    parser.add_argument("--model", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait after")
    parser.add_argument("--find-max", action="store_true", help="search the highest rate")
    parser.add_argument("--p99-limit", type=float, default=50.0, help="ms, for --find-max")
    parser.add_argument("--step-seconds", type=float, default=15.0, help="search run length")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    args.load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    tickets = corpus(5000)
    with database(args.database_url) as database_url, serving(database_url, args) as server:
        requests = Requests(tickets, server.port)
        if args.warmup > 0:
            run_rate(server, requests, args.rate, args.warmup, args)
        fixed = run_rate(server, requests, args.rate, args.seconds, args)
        log("  " + fixed.line())
        best, runs = find_max(server, requests, args) if args.find_max else (None, [])
    found = figures(args, database_url, fixed, best, server)
    if args.json:
        print_table({**found, "_json": True}, runs)
        json.dump(found, sys.stdout)
        print()
    else:
        print_table(found, runs)


if __name__ == "__main__":
    main()
