"""The load generator of the HTTP benchmarks: `wrk` (Debian's package) with bench/plan.lua.

`run_wrk` writes a plan (categories of requests, each with a weight and sent over and over or
each once), runs wrk against a running server for a fixed time, and returns what wrk measured
(latency percentiles, socket errors) with what the script counted (answers by status, requests
sent per category, fallbacks when a list of send-once requests ran out), the CPU time wrk
itself used (so a reader can see the generator is not the ceiling) and the server's.
"""

from __future__ import annotations

import math
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

WRK = shutil.which("wrk") or "/usr/bin/wrk"
PLAN_LUA = Path(__file__).resolve().parent / "plan.lua"
# wrk records latencies up to its --timeout only: a slower answer counts as a timeout error
# instead, so the percentiles are honest only below it.
TIMEOUT_S = 10
MARGIN = 1.25  # send-once lists are sized for this much more than the run can use
UNSAFE = re.compile(r"[\t\r\n]")


@dataclass(frozen=True)
class Category:
    """Requests of one kind: `weight` shares of the picks; `once`: each sent at most once."""

    name: str
    weight: float
    requests: list[tuple[str, str, str]]  # method, path, body ("" for none)
    once: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class Server(Protocol):
    base: str

    def cpu_seconds(self) -> float: ...


@dataclass
class Run:
    """One wrk run: its figures, the script's counts, and the CPU each side used."""

    requests: int
    seconds: float
    latency_ms: dict[str, float]
    socket_errors: Counter[str]
    statuses: Counter[int]
    sent: Counter[str]
    fallbacks: Counter[str]
    fresh: int  # answers that stored a new ticket
    duplicates: int  # answers that found a delivery already stored
    wrk_cpu_s: float
    server_cpu_s: float
    wall_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def errors(self) -> int:
        """Answers other than 2xx, and wrk's socket errors (timeouts included)."""
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def unanswered(self) -> int:
        """Requests still in flight when wrk stopped: their latency is in no percentile."""
        return sum(self.sent.values()) + sum(self.fallbacks.values()) - self.requests

    @property
    def invalid(self) -> str | None:
        """Why the run did not send what its plan says (a send-once list ran out), if it did not."""
        used_up = {name: n for name, n in self.fallbacks.items() if n}
        if not used_up:
            return None
        return f"send-once requests ran out: {used_up} sent GET /healthz instead"

    def share(self, cpu_s: float | None) -> str:
        """CPU seconds as a share of one core over the run."""
        return "-" if cpu_s is None or not self.wall_s else f"{cpu_s / self.wall_s:.0%}"

    def describe_errors(self) -> str:
        statuses = {s: n for s, n in sorted(self.statuses.items()) if not 200 <= s < 300}
        sockets = {k: n for k, n in self.socket_errors.items() if n}
        return f"statuses {statuses or '{}'}, socket errors {sockets or '{}'}"


def budget(rate: float, seconds: float, share: float, connections: int) -> int:
    """How many send-once requests a run of `seconds` at most `rate` req/s can use.

    `rate` must be an upper bound (e.g. /healthz's in the same run: every request the plan
    makes costs the server more); each connection may have one more in flight.
    """
    return math.ceil(rate * seconds * share * MARGIN) + 2 * connections


def write_plan(path: Path, categories: list[Category]) -> None:
    lines = []
    for category in categories:
        headers = [f"{name}: {value}" for name, value in category.headers.items()]
        lines.append("\t".join(["=", category.name, str(category.weight), _mode(category)]))
        lines[-1] += "".join(f"\t{header}" for header in headers)
        for method, path_, body in category.requests:
            if UNSAFE.search(path_ + body):
                raise ValueError(f"a tab or newline in a {category.name} request")
            lines.append(f"{method}\t{path_}\t{body}")
    path.write_text("\n".join(lines) + "\n")


def _mode(category: Category) -> str:
    return "once" if category.once else "cycle"


def run_wrk(
    server: Server,
    categories: list[Category],
    *,
    connections: int,
    threads: int,
    seconds: int,
) -> Run:
    """Load `server` with the plan for `seconds` (whole: wrk takes no fractions), and what wrk
    and the script measured; CPU shares are over wrk's wall time, its start-up included."""
    if not Path(WRK).exists():
        raise SystemExit("wrk is not installed: apt-get install wrk")
    threads = min(threads, connections)
    if connections % threads:  # wrk would open connections // threads on each, fewer in all
        raise ValueError(f"{connections} connections do not divide among {threads} threads")
    with tempfile.TemporaryDirectory(prefix="sportello-wrk-") as directory:
        plan = Path(directory) / "plan.tsv"
        write_plan(plan, categories)
        argv = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
        argv += ["--timeout", f"{TIMEOUT_S}s", "-s", str(PLAN_LUA), server.base]
        argv += ["--", str(plan), str(threads)]
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = server.cpu_seconds()
        began = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        wall = time.monotonic() - began
        server_cpu = server.cpu_seconds() - server_before
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or "@@ requests" not in done.stdout:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    wrk_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    return parse(done.stdout, wrk_cpu_s=wrk_cpu, server_cpu_s=server_cpu, wall_s=wall)


def parse(output: str, *, wrk_cpu_s: float, server_cpu_s: float, wall_s: float) -> Run:
    """The "@@" lines plan.lua's done() printed."""
    values: dict[str, int] = {}
    latency: dict[str, float] = {}
    sockets: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    sent: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    for line in output.splitlines():
        if not line.startswith("@@ "):
            continue
        key, *rest = line.split()[1:]
        if key == "latency_us":
            latency[rest[0]] = int(rest[1]) / 1000
        elif key == "socket":
            sockets[rest[0]] = int(rest[1])
        elif key == "status":
            statuses[int(rest[0])] = int(rest[1])
        elif key == "sent":
            sent[rest[0]] = int(rest[1])
        elif key == "fallback":
            fallbacks[rest[0]] = int(rest[1])
        else:
            values[key] = int(rest[0])
    sockets.pop("status", None)  # wrk's count of answers >= 400: statuses has them all
    return Run(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        latency_ms=latency,
        socket_errors=sockets,
        statuses=statuses,
        sent=sent,
        fallbacks=fallbacks,
        fresh=values.get("fresh", 0),
        duplicates=values.get("duplicates", 0),
        wrk_cpu_s=wrk_cpu_s,
        server_cpu_s=server_cpu_s,
        wall_s=wall_s,
    )


HEALTHZ = Category("healthz", 1, [("GET", "/healthz", "")])

HEADER = (
    f"{'target':<30}{'conns':>6}{'requests':>9}{'req/s':>9}{'ratio':>7}{'p50 ms':>8}"
    f"{'p90 ms':>8}{'p99 ms':>9}{'errors':>7}{'wrk CPU':>8}{'server':>8}{'db':>6}{'RSS MB':>8}"
)


def line(
    name: str,
    connections: int,
    run: Run,
    *,
    baseline: Run | None = None,
    db_cpu_s: float | None = None,
    rss_mb: float | None = None,
) -> str:
    """One row under HEADER; CPU columns are shares of one core over the run's wall time."""
    ratio = f"{run.rate / baseline.rate:.3f}" if baseline and baseline.rate else "-"
    rss = "-" if rss_mb is None else f"{rss_mb:.0f}"
    return (
        f"{name:<30}{connections:>6}{run.requests:>9}{run.rate:>9.1f}{ratio:>7}"
        f"{run.latency_ms['50']:>8.1f}{run.latency_ms['90']:>8.1f}{run.latency_ms['99']:>9.1f}"
        f"{run.errors:>7}{run.share(run.wrk_cpu_s):>8}{run.share(run.server_cpu_s):>8}"
        f"{run.share(db_cpu_s):>6}{rss:>8}"
    )


GENERATOR_NOTE = (
    "wrk CPU / server / db: CPU time over wall time, as a share of one core (2 cores here): "
    "a generator far below the server's share is not the ceiling. Latencies are wrk's (with "
    f"its coordinated-omission correction); an answer slower than {TIMEOUT_S} s counts as a "
    "timeout error, and a request still in flight when wrk stops (at most one a connection) "
    "is in no percentile: runs must be long against the latencies they measure."
)
