"""Store specs (what a Store resource declares): validation, what they change, the stores file."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from storesim._keys import MAX_STORE
from storesim._time import epoch_day, local_day
from storesim.engines import FootTrafficEngine
from storesim.settings import FootTrafficSettings, SettingsError
from storesim.world import (
    STORE_ID_PATTERN,
    StoreCatalogue,
    StoresFileError,
    StoreSpec,
    TrafficVolume,
    daily_customers,
    expected_customers,
    read_stores_file,
    store,
    store_code,
    timezones,
    write_stores_file,
)
from storesim.world._store_specs import store_id_pattern
from tests.conftest import simulate
from tests.store_spec_cases import BAD_VALUES, EDGE_ACCEPTED, EDGE_REJECTED, GOOD_SPECS, random_spec


def test_the_store_id_pattern_accepts_exactly_the_ids_of_stores_1_to_max() -> None:
    pattern = re.compile(STORE_ID_PATTERN)
    assert all(pattern.match(store_code(n)) for n in range(1, MAX_STORE + 1))
    assert not any(pattern.match(store_code(n)) for n in (0, *range(MAX_STORE + 1, 100_000)))
    for other in ("STORE-0123", "STORE-1", "STORE-12", "STORE-00001", "store-001", "STORE-001 ", "S-001"):
        assert not pattern.match(other), other


@pytest.mark.parametrize("highest", [1000, 1999, 2000, 9999, 10_000, 16_383, 54_321, 99_999])
def test_the_pattern_is_right_for_other_highest_stores(highest: int) -> None:
    pattern = re.compile(store_id_pattern(highest))
    accepted = {n for n in range(100_000) if pattern.match(store_code(n))}
    assert accepted == set(range(1, highest + 1))


def test_a_spec_with_only_an_id_is_the_builtin_store() -> None:
    assert StoreSpec(store_id="STORE-004").store() == store(4)


def test_every_field_changes_the_store() -> None:
    spec = StoreSpec.model_validate(GOOD_SPECS[1])  # every field set
    shop = spec.store()
    assert (shop.number, shop.store_id, shop.name, shop.city, shop.timezone) == (
        4,
        "STORE-004",
        "Harbour",
        "Muscat",
        "Asia/Muscat",
    )
    assert (shop.opens, shop.closes) == (9 * 3600 + 1800, 21 * 3600)
    assert (shop.daily_customers, shop.registers, shop.tax_rate_bp) == (321, 2, 500)
    assert (shop.putback_prob, shop.refund_probability, shop.traffic_multiplier) == (0.25, 0.5, 2.0)


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        StoreSpec.model_validate({"storeId": "STORE-001", field: value})


@pytest.mark.parametrize(("field", "value"), EDGE_REJECTED)
def test_no_coercion_and_no_value_out_of_bounds(field: str, value: object) -> None:
    """Strict: a string or a boolean is not a number (the API server's schema says so too)."""
    with pytest.raises(ValidationError):
        StoreSpec.model_validate({"storeId": "STORE-001", field: value})


@pytest.mark.parametrize(("field", "value"), EDGE_ACCEPTED)
def test_the_bounds_are_inclusive(field: str, value: object) -> None:
    StoreSpec.model_validate({"storeId": "STORE-001", field: value})


def test_the_good_and_random_specs_are_valid() -> None:
    rng = random.Random(7)
    for spec in [*GOOD_SPECS, *(random_spec(rng) for _ in range(200))]:
        StoreSpec.model_validate(spec)


def test_the_zones_are_the_pinned_tzdata_ones() -> None:
    zones = timezones()
    assert {"UTC", "Asia/Riyadh", "America/New_York", "Europe/London"} <= set(zones)
    assert len(zones) > 500


def test_a_stores_file_reads_back_what_was_written(tmp_path: Path) -> None:
    specs = [
        StoreSpec.model_validate({"storeId": "STORE-010", "dailyCustomers": 5}),
        StoreSpec(store_id="STORE-002", city="Jeddah"),
    ]
    path = tmp_path / "stores.json"
    path.write_text(write_stores_file(specs))
    assert read_stores_file(path) == tuple(sorted(specs, key=lambda spec: spec.number))
    assert json.loads(path.read_text())["stores"][0] == {"city": "Jeddah", "storeId": "STORE-002"}
    assert write_stores_file(reversed(specs)) == path.read_text()
    assert StoreCatalogue.of_specs(read_stores_file(path)).numbers == (2, 10)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "Invalid JSON"),
        ('{"stores": [{"storeId": "STORE-001", "registers": 0}]}', "stores.0.registers"),
        ('{"stores": [{"storeId": "STORE-001"}, {"storeId": "STORE-001"}]}', "twice"),
    ],
)
def test_a_bad_stores_file_says_where(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "stores.json"
    path.write_text(text)
    with pytest.raises(StoresFileError, match=says):
        read_stores_file(path)


def test_a_missing_stores_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoresFileError, match="cannot read"):
        read_stores_file(tmp_path / "absent.json")


def test_daily_customers_and_the_multiplier_set_the_volume() -> None:
    volume = TrafficVolume(baseline=1000, variation=False)
    plain = store(1)
    declared = StoreSpec.model_validate({"storeId": "STORE-001", "dailyCustomers": 200}).store()
    doubled = StoreSpec.model_validate({"storeId": "STORE-001", "trafficMultiplier": 2}).store()
    for weekday in range(7):
        assert expected_customers(volume, doubled, weekday) == 2 * expected_customers(volume, plain, weekday)
        assert (
            expected_customers(volume, declared, weekday)
            == expected_customers(TrafficVolume(baseline=200, variation=False), plain, weekday)
            / plain.traffic_factor
        )
    # A store's own figure is a baseline (it varies by weekday and noise), even where DAILY_CUSTOMERS is set.
    fixed = TrafficVolume(baseline=1000, fixed_daily=50, variation_pct=0.1)
    assert daily_customers(fixed, plain, 0, random.Random(1)) == 50
    counts = {daily_customers(fixed, declared, 0, random.Random(seed)) for seed in range(20)}
    assert len(counts) > 1


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@settings(max_examples=60, deadline=None)
@given(
    opens=st.integers(7 * 60, 21 * 60 + 59),
    length=st.integers(1, 15 * 60),
    number=st.integers(1, 40),
)
def test_accepted_hours_give_visits_inside_the_local_day(opens: int, length: int, number: int) -> None:
    """What the CRD accepts the simulators run: visits of any accepted opening hours end before midnight."""
    closes = min(opens + length, 22 * 60)
    hours = {"opens": clock_text(opens), "closes": clock_text(closes)}
    shop = StoreSpec.model_validate(
        {"storeId": store_code(number), "openingHours": hours, "dailyCustomers": 40}
    ).store()
    engine = FootTrafficEngine(7, TrafficVolume(baseline=40))
    day = local_day(epoch_day(date(2025, 3, 28)), shop.timezone)
    for session in engine.sessions(shop, day):
        assert day.start + shop.opens <= session.entry < day.start + shop.closes
        assert session.exit < day.start + 24 * 3600


def declared_stores(path: Path) -> Path:
    """Store 4 with every knob turned, and store 2 as built in."""
    spec = {
        "storeId": "STORE-004",
        "city": "Muscat",
        "timezone": "Asia/Muscat",
        "openingHours": {"opens": "10:00", "closes": "14:00"},
        "dailyCustomers": 30,
        "registers": 1,
        "refundProbability": 1.0,
        "putbackProb": 0.0,
    }
    path.write_text(json.dumps({"stores": [spec, {"storeId": "STORE-002"}]}))
    return path


def test_the_embedded_mode_simulates_the_stores_a_stores_file_declares(tmp_path: Path) -> None:
    stores_file = declared_stores(tmp_path / "stores.json")
    run = simulate(
        tmp_path / "out",
        "--stores-file",
        str(stores_file),
        "--start",
        "2025-03-28",
        "--days",
        "1",
        "--seed",
        "5",
    )
    builtin = simulate(
        tmp_path / "builtin", "--store-ids", "2", "--start", "2025-03-28", "--days", "1", "--seed", "5"
    )
    four = [r for r in run.records["foot_traffic"] if r["store_id"] == "STORE-004"]
    assert {r["store_id"] for r in run.records["foot_traffic"]} == {"STORE-002", "STORE-004"}
    # Store 2 is exactly what it is without a file.
    assert [r for r in run.records["foot_traffic"] if r["store_id"] == "STORE-002"] == builtin.records[
        "foot_traffic"
    ]
    # Store 4: about 30 customers (weekday factor and ±10%), entering 10:00-14:00 Muscat time (UTC+4).
    assert 20 <= len(four) <= 40
    assert all(6 <= r["entry_time"].astimezone(UTC).hour < 10 for r in four)
    kinds = {
        shop: {r["event_type"] for r in run.records["shelf_events"] if r["store_id"] == shop}
        for shop in ("STORE-002", "STORE-004")
    }
    assert "putback" in kinds["STORE-002"]
    assert "putback" not in kinds["STORE-004"]
    terminals = {r["terminal_id"] for r in run.records["pos_events"] if r["store_id"] == "STORE-004"} - {None}
    assert terminals == {"T-004-01"}

    def refunded_share(shop: str) -> float:
        sold = {r["transaction_id"] for r in run.records["transactions"] if r["store_id"] == shop}
        refunded = {r["original_transaction_id"] for r in run.records["refunds"] if r["store_id"] == shop}
        assert refunded <= sold
        return len(refunded) / len(sold)

    # Every line of store 4 draws a refund; those due after the simulated day are not in the run.
    # (14% within the day here, against 1.5% for store 2 at the default REFUND_PROBABILITY).
    assert refunded_share("STORE-004") > 5 * refunded_share("STORE-002")


def test_services_take_their_stores_from_stores_file(tmp_path: Path) -> None:
    stores_file = declared_stores(tmp_path / "stores.json")
    settings = FootTrafficSettings.from_env(stores_file=str(stores_file), store_ids="1,2,3")
    assert settings.store_ids == (2, 4)
    assert settings.stores[4].registers == 1
    assert settings.stores[2] == store(2)
    (tmp_path / "bad.json").write_text('{"stores": [{"storeId": "STORE-004", "registers": 0}]}')
    with pytest.raises(SettingsError, match=r"STORES_FILE: .*bad.json: stores.0.registers"):
        FootTrafficSettings.from_env(stores_file=str(tmp_path / "bad.json"))
