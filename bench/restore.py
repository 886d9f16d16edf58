"""POS restore time: a replica restarting with 100,000 open carts in its state store.

Fills one partition's scope of a StateStore (SQLite on STATE_DIR) with open carts of 1-8 lines each,
as the POS service saves them, then times what a restart does before the partition is ready: open the
store, read the scope, rebuild the engine's carts and deadlines, and list the days to price. Prints the
time (best and median of --repeat runs) against the target.
Run: .venv/bin/python bench/restore.py [--carts N] [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from storesim._keys import CustomerKey, customer_id
from storesim._time import epoch_day
from storesim.data import build_dataset
from storesim.engines import PosEngine
from storesim.streaming import StateStore
from storesim.world import DayPricing

TARGET_SECONDS = 5.0
DAY = date(2025, 3, 28)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    dataset = build_dataset(DAY, DAY)

    def pricing(day: date) -> DayPricing:
        return DayPricing(dataset.catalogue, dataset.discounts, day)

    items = sorted(dataset.catalogue.by_id)
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="storesim-bench-restore-") as tmp:
        path = Path(tmp) / "pos.sqlite"
        engine = PosEngine(dataset.catalogue, pricing)
        day, start = epoch_day(DAY), 1_743_148_800
        for n in range(args.carts):
            customer = customer_id(1, CustomerKey(1 + n % 20, day, n))
            engine.open_session(customer, start + n % 3600, start + 36_000)
            for _ in range(rng.randint(1, 8)):
                engine.apply_shelf(customer, "pickup", rng.choice(items), rng.randint(1, 3))
        store = StateStore(path)
        began = time.perf_counter()
        store.save(
            "partition-0", start + 3600, {"foot_traffic:0": 10**6, "shelf_events:0": 10**7}, engine.changes()
        )
        saved = time.perf_counter() - began
        store.close()
        size = path.stat().st_size + sum(p.stat().st_size for p in path.parent.glob("*-wal"))

        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            store = StateStore(path)
            snapshot = store.load("partition-0")
            assert snapshot is not None
            restored = PosEngine(dataset.catalogue, pricing)
            restored.restore(snapshot.entries)
            restored.open_days()
            times.append(time.perf_counter() - began)
            store.close()
            if restored.open_carts != args.carts:
                sys.exit(f"restored {restored.open_carts} carts, saved {args.carts}")

    best, median = min(times), statistics.median(times)
    print(f"machine: {platform.platform()}, Python {platform.python_version()}")
    print(
        f"state: {args.carts:,} open carts in one partition, {size / 2**20:.1f} MiB of SQLite, "
        f"saved in {saved:.2f} s"
    )
    print(f"restore: best {best:.2f} s, median {median:.2f} s of {args.repeat}")
    verdict = "met" if median < TARGET_SECONDS else "NOT met"
    print(f"target: under {TARGET_SECONDS:.0f} s ({verdict})")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
