"""Embedded-mode throughput: a 20-store × 7-day backfill on one core.

Prints events written per second of wall time and the process's peak RSS; with --profile N it also
prints the N functions that took the most time (cProfile slows the run down; the figure then is not
the throughput). Run: .venv/bin/python bench/embedded.py
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

from storesim.cli import app
from storesim.cli._errors import run_command

TARGET_EVENTS_PER_SECOND = 200_000
TARGET_RSS_MIB = 500


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--start", default="2025-11-03")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--format", choices=("avro", "json"), default="avro")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says

    with tempfile.TemporaryDirectory(prefix="storesim-bench-") as tmp:
        out = Path(tmp)
        argv = ["simulate", "--stores", str(args.stores), "--days", str(args.days), "--start", args.start]
        argv += ["--seed", args.seed, "--format", args.format, "--out", str(out), "-q"]
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        code = run_command(app, "storesim", argv)
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - started
        if code != 0:
            return code
        events = count_events(out)
        size = sum(p.stat().st_size for p in out.iterdir())

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = events / elapsed
    print(f"backfill: {args.stores} stores x {args.days} days, format {args.format}, one core")
    print(f"events: {events:,} in {elapsed:.1f} s ({size / 2**20:,.0f} MiB written)")
    rate_verdict = "met" if rate >= TARGET_EVENTS_PER_SECOND else "NOT met"
    rss_verdict = "met" if rss_mib < TARGET_RSS_MIB else "NOT met"
    print(f"events/s: {rate:,.0f} (target {TARGET_EVENTS_PER_SECOND:,}: {rate_verdict})")
    print(f"peak RSS: {rss_mib:,.0f} MiB (target < {TARGET_RSS_MIB}: {rss_verdict})")
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)
    return 0


def count_events(out: Path) -> int:
    """Counts records in the output files: block counts for Avro, lines for JSON."""
    import fastavro

    total = 0
    for path in out.iterdir():
        if path.suffix == ".avro":
            with path.open("rb") as handle:
                total += sum(block.num_records for block in fastavro.block_reader(handle))
        else:
            with path.open("rb") as handle:
                total += sum(1 for _ in handle)
    return total


if __name__ == "__main__":
    sys.exit(main())
