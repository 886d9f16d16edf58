"""The README's worked example, `examples/scenarios/faults.json` — store 3's uplink down from 10:00 to
11:30, store 5's dairy at 30 % off, 2 % of checkouts sent twice — run embedded: each fault is where the
file puts it, and the answer key accounts for all of it (it is what a pipeline that deduplicates and
waits for the late data finds in the topics)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storesim.events import POS_TRANSACTIONS, TRUTH
from storesim.world import store
from tests.answer_key import recompute, truth_by_store_hour
from tests.conftest import Run, epoch_seconds, simulate

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "scenarios" / "faults.json"
CATALOGUE = ROOT / "data-loader" / "storesim_dataloader" / "catalogue.csv"
ARGS = ("--store-ids", "1,3,5", "--start", "2025-03-28", "--days", "1", "--seed", "7")
ENV = {"BASE_DAILY_CUSTOMERS": "400"}
HOUR = 3600


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return simulate(tmp_path_factory.mktemp("example"), *ARGS, "--scenario", str(EXAMPLE), env=ENV)


def local_hour(store_number: int, instant: int) -> int:
    return datetime.fromtimestamp(instant, ZoneInfo(store(store_number).timezone)).hour


def test_the_answer_key_is_what_a_deduplicating_pipeline_finds(run: Run) -> None:
    key = truth_by_store_hour(run.records[TRUTH])
    hours = [hour for _, hour in key]
    assert key == recompute(run.records, min(hours), max(hours) + HOUR)
    sent = Counter(r["transaction_id"] for r in run.records[POS_TRANSACTIONS])
    copies = sum(n - 1 for n in sent.values())
    assert copies == sum(figures["duplicates_sent"] for figures in key.values()) > 0
    assert copies < 0.1 * len(sent), "about 2 % of the checkouts, not ten times that"


def test_store_3s_outage_makes_its_10_and_11_oclock_late_and_no_other(run: Run) -> None:
    late = {
        (r["store_id"], local_hour(int(r["store_id"][-3:]), epoch_seconds(r["hour"]))): r
        for r in run.records[TRUTH]
        if r["late_events"]
    }
    assert set(late) == {("STORE-003", 10), ("STORE-003", 11)}
    assert all(0 < r["max_lateness_seconds"] <= 90 * 60 for r in late.values())
    assert all("store-3-uplink-down" in r["scenarios"] for r in late.values())


def test_store_5s_dairy_is_at_30_percent_off_and_only_there(run: Run) -> None:
    with CATALOGUE.open(newline="") as rows:
        dairy = {row["shelf_id"] for row in csv.DictReader(rows) if row["category"] == "Dairy & Eggs"}
    discounts: dict[str, list[float]] = {"STORE-001": [], "STORE-003": [], "STORE-005": []}
    for checkout in run.records[POS_TRANSACTIONS]:
        for line in checkout["items"]:
            if line["item_id"] in dairy:
                discounts[checkout["store_id"]].append(line["discount"])
    assert discounts["STORE-005"]
    assert all(d >= 0.30 for d in discounts["STORE-005"])
    others = discounts["STORE-001"] + discounts["STORE-003"]
    assert others
    assert min(others) < 0.30
