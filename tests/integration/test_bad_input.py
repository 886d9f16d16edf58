"""Bad input of every kind, planted in a running chain on the real stack (tests/integration/planting.py):
no service stops, every planted message reaches the dead-letter topic with its reason and where it came
from (once per transactional stage), nothing else does, and every output topic is exactly the embedded
run's. And two ways the end of a run once differed: dead letters after the last step, a heavy day."""

from __future__ import annotations

import contextlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from storesim.events import FOOT_TRAFFIC, POS_EVENTS, POS_TRANSACTIONS, SHELF_EVENTS, TOPICS
from storesim.streaming import RecordDecoder
from tests.conftest import Run, epoch_seconds, simulate
from tests.integration.chain import Chain
from tests.integration.helpers import end_offsets, message_count, wait_until
from tests.integration.planting import REDIS, DeadLetter, Mix, Plant, plant, read_dead_letters
from tests.integration.runs import (
    END,
    START,
    assert_same_events,
    backfill,
    consume_chain,
    embedded,
    run_chain,
)

STORES, CUSTOMERS = "1,2", "50"
SEED = "117"  # its day has a customer who puts an item back and picks it up again in one second
PLANTED = 10_000
ROUNDS = 5
TRANSACTIONAL = ("pos", "register", "ledger")  # exactly once with their steps; the sources at least once


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return embedded(tmp_path_factory.mktemp("embedded"), STORES, CUSTOMERS, SEED)


def receipt_order_by_arrival(events: list[tuple[int, str, str, int]]) -> list[str]:
    """The line order the POS once had: first insertion into the cart, a full putback removing the item."""
    lines: dict[str, int] = {}
    for _, kind, item, quantity in events:
        lines[item] = lines.get(item, 0) + (quantity if kind == "pickup" else -quantity)
        if not lines[item]:
            del lines[item]
    return list(lines)


def test_the_day_holds_a_putback_and_pickup_in_one_second_that_once_reordered_a_receipt(
    expected: Run,
) -> None:
    """So that the chain runs below compare a receipt that the order of same-second events could change:
    as the shelf made them (the embedded run) and pickups first (the streamed POS)."""
    by_customer: dict[str, list[tuple[int, str, str, int]]] = defaultdict(list)
    for r in expected.records[SHELF_EVENTS]:
        if r["event_type"] != "weight_change":
            by_customer[r["customer_id"]].append(
                (epoch_seconds(r["timestamp"]), r["event_type"], r["item_id"], r["quantity"])
            )
    sensitive = [
        customer
        for customer, events in by_customer.items()
        if receipt_order_by_arrival(events)
        != receipt_order_by_arrival(sorted(events, key=lambda e: (e[0], e[1] != "pickup")))
    ]
    assert sensitive, "no order-sensitive tie in this day: pick another SEED"


def match(
    plants: list[Plant], letters: list[DeadLetter], chain: Chain, decoder: RecordDecoder
) -> tuple[dict[int, list[DeadLetter]], list[DeadLetter]]:
    """Each plant's dead letters (by its index), and the dead letters of no plant."""
    index: dict[tuple[str, str], int] = {}
    forwarded: dict[str, int] = {}
    stream = chain.topics("shelf", 0)["REDIS_STREAM"]
    for n, item in enumerate(plants):
        if item.forwarded is not None:
            forwarded[item.forwarded] = n
        elif item.topic == REDIS:
            index[(stream, item.entry)] = n
        else:
            index[(chain.names[item.topic], f"{item.partition}:{item.offset}")] = n
    found: dict[int, list[DeadLetter]] = defaultdict(list)
    strays: list[DeadLetter] = []
    shelf_topic = chain.names[SHELF_EVENTS]
    for letter in letters:
        n = index.get(letter.source)
        if n is None and letter.source[0] == shelf_topic and letter.value:
            with contextlib.suppress(ValueError):
                n = forwarded.get(decoder.decode(SHELF_EVENTS, shelf_topic, letter.value)["customer_id"])
        if n is None:
            strays.append(letter)
        else:
            found[n].append(letter)
    return found, strays


def complete(plants: list[Plant], chain: Chain, decoder: RecordDecoder) -> Callable[[list[DeadLetter]], bool]:
    return lambda letters: len(match(plants, letters, chain, decoder)[0]) == len(plants)


def check_dead_letters(
    plants: list[Plant], letters: list[DeadLetter], chain: Chain, decoder: RecordDecoder
) -> None:
    found, strays = match(plants, letters, chain, decoder)
    assert not strays, f"{len(strays)} dead letters of no planted message, e.g. {strays[0].headers}"
    missing = [plants[n] for n in range(len(plants)) if n not in found]
    assert not missing, f"{len(missing)} planted messages never reached the DLQ, e.g. {missing[0]}"
    for n, got in found.items():
        item = plants[n]
        for letter in got:
            h = letter.headers
            assert h["storesim.reason"] in item.reasons, (item.reasons, h)
            assert h["storesim.detail"], h
            assert h["storesim.component"], h
        twice = [c for c, k in Counter(h.headers["storesim.component"] for h in got).items() if k > 1]
        assert not set(twice) & set(TRANSACTIONAL), f"{twice} dead-lettered {item} twice"
        raw = [letter for letter in got if item.forwarded is None]
        if item.topic != REDIS:
            assert all(letter.value == (item.value or b"") or letter.value == item.value for letter in raw)
        elif raw:
            assert all(letter.value == item.fields.get(b"record") for letter in raw)


def output_of_plants(plants: list[Plant]) -> dict[str, int]:
    """Messages the plants add to the chain's topics (the bridge forwards some Redis entries)."""
    counts = Counter(item.topic for item in plants if item.topic != REDIS)
    counts[SHELF_EVENTS] += sum(1 for item in plants if item.forwarded is not None)
    return dict(counts)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_flood_of_bad_input_stops_no_service_and_each_planted_message_is_dead_lettered(
    round_: int, stack: dict[str, str], dataset: Path, tmp_path: Path, expected: Run
) -> None:
    """Even rounds run the day paced (36 wall seconds), so that the second half is surely planted while
    the stores are open; odd rounds backfill it, as fast as it goes."""
    settings = backfill(STORES, CUSTOMERS, SEED)
    paced = round_ % 2 == 0
    if paced:
        settings = {**settings, "CLOCK_MODE": "paced", "TIME_SCALE": "2400"}
    chain = Chain(stack, tmp_path, dataset, settings)
    stream = chain.topics("shelf", 0)["REDIS_STREAM"]
    mix = Mix(
        random.Random(round_),
        int(SEED),
        expected,
        stack["SCHEMA_REGISTRY_URL"],
        chain.names,
        chain.partitions,
    )
    before, during = mix.plants(PLANTED // 2), mix.plants(PLANTED - PLANTED // 2)
    decoder = RecordDecoder(stack["SCHEMA_REGISTRY_URL"])
    plant(stack, chain.names, stream, before)
    try:
        chain.start_all()
        first_output = chain.names[POS_EVENTS]
        assert wait_until(lambda: end_offsets(stack, first_output) > 0, None, 180), "no register event"
        plant(stack, chain.names, stream, during)
        if paced:  # during the run: the register had not sent the day yet when the second half went in
            assert message_count(stack, first_output) < len(expected.records[POS_EVENTS])
        got = consume_chain(chain, expected)
        letters = read_dead_letters(stack, chain.dlq, complete(before + during, chain, decoder), 240)
        check_dead_letters(before + during, letters, chain, decoder)
        # After the last step: two more, which no step's output carries; they must be committed anyway.
        after = mix.plants(2)
        plant(stack, chain.names, stream, after)
        later = read_dead_letters(stack, chain.dlq, complete(before + during + after, chain, decoder), 90)
        check_dead_letters(before + during + after, later, chain, decoder)
        gone = [chain.describe(s) for s in chain.services if s.process.poll() is not None]
        assert not gone, gone
        chain.wait_ready()
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected, planted=output_of_plants(before + during + after))
    reasons = Counter(letter.headers["storesim.reason"] for letter in later)
    for reason in (
        "undecodable",
        "wrong-schema",
        "unknown-store",
        "invalid-session",
        "unknown-customer",
        "unknown-item",
        "bad-quantity",
        "inconsistent-checkout",
        "after-end",
        "bad-watermark",
    ):
        assert reasons[reason], f"the mix had no {reason}: {reasons}"


HEAVY = "8000"


def test_a_heavy_day_ends_where_the_embedded_run_ends(
    stack: dict[str, str], dataset: Path, tmp_path: Path
) -> None:
    """8,000 visits at store 1: the registers' queue outlasts the day. Both modes stop at the end of the
    range (SIM_END, midnight UTC after the last date): nothing at or after it, in either."""
    expected = simulate(
        tmp_path / "embedded",
        *("--store-ids", "1", "--start", START[:10], "--days", "1", "--seed", SEED),
        env={"DAILY_CUSTOMERS": HEAVY},
    )
    end = int(datetime.fromisoformat(END).timestamp())
    last = max(epoch_seconds(r["timestamp"]) for r in expected.records[POS_EVENTS])
    assert end - 600 <= last < end, "the registers are not still busy when the run ends"
    chain = Chain(stack, tmp_path, dataset, {**backfill("1", seed=SEED), "DAILY_CUSTOMERS": HEAVY})
    got = run_chain(chain, expected)
    assert_same_events(chain, got, expected)
    assert all(t in got for t in TOPICS)
    assert len(got[POS_TRANSACTIONS]) > 5000


def test_a_pos_fenced_while_it_dead_letters_renews_its_producer_and_redoes_the_step(
    stack: dict[str, str], dataset: Path, tmp_path: Path, expected: Run
) -> None:
    """Another producer takes the POS's transactional.id (as a broker that gave up on its transaction
    does), then garbage arrives: the POS's next produce, a dead letter, meets a fenced producer. It
    renews it, redoes the step from its last commit, and the day still comes out exactly; each planted
    message is dead-lettered once by the POS."""
    settings = {**backfill(STORES, CUSTOMERS, SEED), "CLOCK_MODE": "paced", "TIME_SCALE": "2400"}
    chain = Chain(stack, tmp_path, dataset, settings)
    mix = Mix(
        random.Random(99), int(SEED), expected, stack["SCHEMA_REGISTRY_URL"], chain.names, chain.partitions
    )
    garbage = [item for item in mix.plants(400) if item.topic in (FOOT_TRAFFIC, SHELF_EVENTS)]
    decoder = RecordDecoder(stack["SCHEMA_REGISTRY_URL"])
    try:
        chain.start_all()
        pos = chain.replica("pos")
        assert wait_until(lambda: end_offsets(stack, chain.names[POS_TRANSACTIONS]) > 0, pos.process, 120)
        twin = Producer(
            {
                "bootstrap.servers": stack["KAFKA_BROKER"],
                "transactional.id": f"{chain.common['SIM_NAMESPACE']}.pos.pos-0",
            }
        )
        twin.init_transactions(30)  # the POS's producer is fenced from here on
        plant(stack, chain.names, chain.topics("shelf", 0)["REDIS_STREAM"], garbage)
        got = consume_chain(chain, expected)
        letters = read_dead_letters(stack, chain.dlq, complete(garbage, chain, decoder), 120)
        check_dead_letters(garbage, letters, chain, decoder)
        assert pos.process.poll() is None, chain.describe(pos)
    finally:
        codes = chain.stop()
    assert all(code == 0 for values in codes.values() for code in values), codes
    assert_same_events(chain, got, expected, planted=output_of_plants(garbage))
    log = pos.log.read_text()
    assert "fenced by a newer instance" in log, "the twin never fenced the POS"
    assert "kafka error in a step; rewinding" in log or "step not committed; rewinding" in log, log[-3000:]
