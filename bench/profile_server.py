"""Profile `sportello serve` under load: py-spy samples the server while wrk drives one route.

Usage: .venv/bin/python bench/profile_server.py
           [--route queue|ticket|delivery|mixed|healthz] [--database sqlite,postgresql]
           [--connections 32] [--seconds 20] [--tickets 10000] [--pool 1000] [--rate 100]
           [--format speedscope|raw] [--threads-seen gil|active|all] [--out DIR] [--top 25]
           [--workers 1] [--pg-url URL]

It prepares a database and a warmed-up server as bench/load.py does (--tickets of history and
--pool recent open tickets), then runs `py-spy record` on the server's processes for --seconds
while wrk sends the route with --connections (the same requests as bench/load.py's; send-once
lists sized from a short /healthz run). It writes DIR/profile-DATABASE-ROUTE.speedscope.json
(open it in speedscope) or, with --format raw, DIR/profile-DATABASE-ROUTE.txt (collapsed
stacks: speedscope, flamegraph.pl and inferno read them), and prints where the time goes:
the functions with the most samples of their own (the top of the stack), the app's functions
with the most samples in them or below (total), and own samples by package, in
thread-seconds. --threads-seen says which threads are sampled: `gil` (the default), the one
holding the interpreter lock, i.e. where the server's Python time goes (a server bound by the
interpreter lock is never faster than that); `active`, every thread py-spy does not judge idle
(on some kernels it cannot tell, and threads waiting for work or for the lock then show up
too); `all`, idle ones as well.

py-spy is a dev dependency (`make install`); it needs to ptrace the server: root, or
kernel.yama.ptrace_scope = 0.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from harness import DEFAULT_PG_URL, comma_choices
from load import Desk, desk_for, mixed_plan, one_ticket, queue_page
from mailgun import FORM, MAILGUN_PATH
from wrk import HEALTHZ, Category, budget, run_wrk

ROUTES = ("queue", "ticket", "delivery", "mixed", "healthz")
PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
RAW_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def plan_for(route: str, desk: Desk, connections: int) -> list[Category]:
    if route == "healthz":
        return [HEALTHZ]
    if route == "queue":
        return [queue_page()]
    tickets = one_ticket(list(range(1, desk.args.tickets + 1, 5)))
    if route == "ticket":
        return [tickets]
    # Send-once lists are sized from /healthz's rate, which no other route exceeds.
    baseline = run_wrk(desk.server, [HEALTHZ], connections=connections, threads=1, seconds=2)
    if route == "mixed":
        return mixed_plan(desk, connections, baseline, tickets)
    count = budget(baseline.rate, desk.args.seconds + 2, 1.0, connections)
    requests = [("POST", MAILGUN_PATH, body) for body in desk.deliveries.make(count)]
    return [Category("delivery", 1, requests, once=True, headers={"Content-Type": FORM})]


def record(desk: Desk, plan: list[Category], args: argparse.Namespace, output: Path) -> None:
    """py-spy on the server for --seconds, while wrk runs a little longer."""
    if PY_SPY is None:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy (or make install)")
    argv = [PY_SPY, "record", "--pid", str(desk.server.process.pid), "--output", str(output)]
    argv += ["--duration", str(int(args.seconds)), "--rate", str(args.rate), "--function"]
    argv += ["--format", args.format, "--subprocesses", "--full-filenames"]
    argv += {"gil": ["--gil"], "active": [], "all": ["--idle"]}[args.threads_seen]
    spy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)  # attached before the load starts
    run = run_wrk(
        desk.server,
        plan,
        connections=args.connections,
        threads=args.threads,
        seconds=args.seconds + 1,
    )
    output_text, _ = spy.communicate(timeout=120)
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed ({spy.returncode}):\n{output_text}")
    print(
        f"load: {run.rate:.1f} req/s, p50 {run.latency_ms['50']:.1f} ms, "
        f"p99 {run.latency_ms['99']:.1f} ms, {run.errors} errors; server CPU "
        f"{run.share(run.server_cpu_s)} of a core, wrk {run.share(run.wrk_cpu_s)}"
    )


def stacks(path: Path, fmt: str, rate: int) -> Iterator[tuple[list[tuple[str, str]], float]]:
    """(stack from the outermost frame, as (function, file) pairs; thread-seconds) from the
    file (speedscope's weights are seconds; raw lines count samples at `rate` a second)."""
    if fmt == "raw":
        for text_line in path.read_text().splitlines():
            frames, _, count = text_line.rpartition(" ")
            stack = []
            for frame in frames.split(";"):
                match = RAW_FRAME.match(frame)
                stack.append((match["name"], match["file"]) if match else (frame, ""))
            yield stack, int(count) / rate
        return
    document = json.loads(path.read_text())
    frames = [(f["name"], f.get("file", "")) for f in document["shared"]["frames"]]
    for profile in document["profiles"]:
        for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
            yield [frames[i] for i in sample], float(weight)


def package(file: str) -> str:
    """Where a frame's code lives: a site-packages distribution, the app's module, stdlib."""
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/app/" in file:
        return "app/" + file.split("/app/", 1)[1]
    if stdlib := re.search(r"/python3\.\d+/([^/]+)", file):
        return "stdlib " + stdlib[1].removesuffix(".py")
    return file or "(native or unknown)"


def summarise(path: Path, args: argparse.Namespace) -> None:
    own: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    by_package: Counter[str] = Counter()
    samples = 0.0
    for stack, weight in stacks(path, args.format, args.rate):
        if stack and stack[0][0].startswith("process ") and not stack[0][1]:
            stack = stack[1:]  # --subprocesses' root frame: which process
        if not stack:
            continue
        samples += weight
        own[stack[-1]] += weight
        by_package[package(stack[-1][1])] += weight
        for frame in set(stack):
            total[frame] += weight
    if not samples:
        print("no samples: was the server busy?")
        return

    def show(title: str, counts: Counter[tuple[str, str]]) -> None:
        print(f"\n{title}")
        for (name, file), weight in counts.most_common(args.top):
            print(f"  {weight / samples:6.1%}  {name}  ({package(file)})")

    print(
        f"\n{samples:.1f} thread-seconds sampled ({args.threads_seen} threads, "
        f"{args.seconds} s at {args.rate} Hz)"
        + (
            f": the interpreter lock held {samples / args.seconds:.0%} of the time"
            if args.threads_seen == "gil"
            else ""
        )
    )
    show("own: the function itself, at the top of the stack", own)
    app_total = Counter({frame: w for frame, w in total.items() if "/app/" in frame[1]})
    show("total, the app's own functions: the function and everything it called", app_total)
    print("\nown, by package")
    for name, weight in by_package.most_common(args.top):
        print(f"  {weight / samples:6.1%}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", choices=ROUTES, default="queue")
    parser.add_argument(
        "--database", type=comma_choices(("sqlite", "postgresql")), default=("sqlite",)
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--seconds", type=int, default=20, help="sampled (wrk runs 1 s more)")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--pool", type=int, default=1_000)
    parser.add_argument("--rate", type=int, default=100, help="samples a second")
    parser.add_argument("--format", choices=("speedscope", "raw"), default="speedscope")
    parser.add_argument("--threads-seen", choices=("gil", "active", "all"), default="gil")
    parser.add_argument(
        "--out",
        default=str(Path(tempfile.gettempdir()) / "sportello-profile"),
        help="directory for the profile (default: sportello-profile in the temporary directory)",
    )
    parser.add_argument("--top", type=int, default=25, help="lines per table")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL server URL")
    args = parser.parse_args()
    if not 0 < args.seconds <= 240:
        parser.error("--seconds in (0, 240] (signatures last 5 minutes)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "speedscope.json" if args.format == "speedscope" else "txt"
    for kind in args.database:
        output = out / f"profile-{kind}-{args.route}.{suffix}"
        with desk_for(kind, args, tickets=args.tickets, pool=args.pool) as desk:
            plan = plan_for(args.route, desk, args.connections)
            record(desk, plan, args, output)
        print(f"wrote {output}")
        summarise(output, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
