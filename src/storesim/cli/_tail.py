"""`storesim tail`: storesim's topics as they are, decoded, one JSON object per line.

A topic is named as configured (the admin Job's FOOT_TOPIC, SHELF_TOPIC, ...) and read with its own
logical topic's schema: the decoder resolves whatever writer schema the registry holds to that one, and
the filters and the seed's JSON shape need to know which topic a record is. A name that is no storesim
topic is refused rather than decoded through the registry alone, which would give records of an
unknown shape to filter and print.

Output goes to stdout; notes (an undecodable message, the end of the history when following) and the
final count go to stderr, so that stdout stays one record per line. Ctrl-C ends a tail with exit code
130, like any interrupted storesim command; a closed pipe (`| head`) ends it quietly with 0.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final, TextIO

import typer

from storesim.cli._errors import UsageError
from storesim.events import TOPICS, Record, json_record, raw_schema

if TYPE_CHECKING:
    from storesim.kafka import TopicReader
    from storesim.settings import AdminSettings

__all__ = [
    "RecordFilter",
    "event_types",
    "logical_topics",
    "parse_store",
    "renderer",
    "store_of",
    "tail_command",
]

FORMATS: Final = ("json", "avro-json")
EXIT_INTERRUPTED: Final = 130
_POLL_SECONDS = 0.5  # a Ctrl-C is seen between polls at the latest
_STORE = re.compile(r"(?:STORE-)?(\d+)", re.IGNORECASE)


def event_types(topic: str) -> tuple[str, ...]:
    """The event_type symbols of a logical topic's schema (none for the answer key, which has no type)."""
    field = next((f for f in raw_schema(topic)["fields"] if f["name"] == "event_type"), None)
    return () if field is None else tuple(field["type"]["symbols"])


def store_of(record: Record) -> str | None:
    """The store a record belongs to: its store_id, else the store its customer id carries (a record in
    the seed's JSON has no store_id on foot_traffic, shelf_events or pos_transactions); None when
    neither says."""
    from storesim._keys import decode_customer_id
    from storesim.world import store_code

    store = record.get("store_id")
    if store:
        return str(store)
    customer = record.get("customer_id")
    if not customer:
        return None
    try:
        return store_code(decode_customer_id(customer).store)
    except ValueError:  # not a storesim customer id (the seeds' stand-alone modes make up their own)
        return None


def parse_store(text: str) -> str:
    """--store's value as the records spell it: STORE-001 (also accepted: store-1, 1)."""
    from storesim._keys import MAX_STORE
    from storesim.world import store_code

    match = _STORE.fullmatch(text.strip())
    if match is None or not 1 <= int(match[1]) <= MAX_STORE:
        raise UsageError(
            f"--store: expected a store id such as STORE-001 (or its number, 1 to {MAX_STORE}), got {text!r}"
        )
    return store_code(int(match[1]))


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a tail prints: any of ``stores`` (empty: all) and any of ``types`` (empty: all)."""

    stores: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    @classmethod
    def of_options(cls, topics: Sequence[str], stores: Sequence[str], types: Sequence[str]) -> RecordFilter:
        """Checks the options against the logical ``topics`` being read: a --type that none of them has
        is a typo, not a filter that is meant to show nothing."""
        offered = {symbol for topic in topics for symbol in event_types(topic)}
        for wanted in types:
            if wanted not in offered:
                have = f"they have {', '.join(sorted(offered))}" if offered else "they have none"
                raise UsageError(f"--type: {wanted!r} is no event type of {', '.join(topics)}; {have}")
        return cls(frozenset(map(parse_store, stores)), frozenset(types))

    def __call__(self, topic: str, record: Record) -> bool:
        if self.types:
            kind = record.get("event_type")
            if kind is None:  # storesim's addition, absent from the seed's JSON: one kind per such topic
                symbols = event_types(topic)
                kind = symbols[0] if len(symbols) == 1 else None
            if kind not in self.types:
                return False
        return not self.stores or store_of(record) in self.stores


def renderer(output_format: str) -> Callable[[str, Record], str]:
    """One line per record: the seed's JSON shape (as `simulate --format json` writes it), or every field
    of the Avro record (storesim's additions too; timestamps in epoch milliseconds, money as numbers,
    unions unwrapped: not Avro's own JSON encoding)."""
    if output_format == "json":
        return lambda topic, record: json.dumps(json_record(topic, record), ensure_ascii=False)
    return lambda _topic, record: json.dumps(record, ensure_ascii=False)


def logical_topics(given: Sequence[str], configured: dict[str, str]) -> dict[str, str]:
    """Configured name → logical topic, for each TOPIC given (in order, each once)."""
    from storesim.settings import AdminSettings

    by_name = {name: topic for topic, name in configured.items()}
    chosen: dict[str, str] = {}
    for name in given:
        if name not in by_name:
            variables = AdminSettings.topic_variables()
            listed = ", ".join(f"{configured[t]} ({variables[t]})" for t in TOPICS)
            raise UsageError(f"TOPIC: {name!r} is no storesim topic; they are {listed}")
        chosen[name] = by_name[name]
    return chosen


def _where(option: str, value: str | None, variable: str, settings: AdminSettings) -> tuple[str, str] | None:
    """The address an option gives, else its variable's when set: (address, how to name it in errors)."""
    if value is not None:
        return value, f"{option} {value}"
    field = variable.lower()
    if field in settings.model_fields_set:
        configured = str(getattr(settings, field))
        return configured, f"{variable}={configured}"
    return None


@dataclass
class _Counts:
    printed: int = 0
    read: int = 0
    skipped: int = 0

    def line(self, filtered: bool) -> str:
        text = _count(self.printed, "record") + (f" of {self.read:,} read" if filtered else "")
        return text + (f"; {_count(self.skipped, 'undecodable message')} skipped" if self.skipped else "")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def tail_command(
    topics: Annotated[
        list[str],
        typer.Argument(
            metavar="TOPIC",
            help="Topic names as configured (FOOT_TOPIC, SHELF_TOPIC, ...).",
            show_default=False,
        ),
    ],
    from_beginning: Annotated[
        bool,
        typer.Option("--from-beginning", help="Read from the start, up to the end at start (see --follow)."),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="With --from-beginning: go on with new messages at the end, until Ctrl-C."
        ),
    ] = False,
    max_records: Annotated[
        int | None,
        typer.Option("--max", help="Stop after printing this many records.", show_default=False),
    ] = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format", help="json (the seed's shape, as simulate writes it) or avro-json (every field)."
        ),
    ] = "json",
    stores: Annotated[
        list[str] | None,
        typer.Option(
            "--store",
            metavar="<str>",
            help="Only this store's records, e.g. STORE-001 (repeatable).",
            show_default=False,
        ),
    ] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="<str>",
            help="Only this event_type, e.g. pickup (repeatable).",
            show_default=False,
        ),
    ] = None,
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="Kafka bootstrap servers [default: KAFKA_BROKER].", show_default=False),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="Schema registry for Avro messages [default: SCHEMA_REGISTRY_URL; none: JSON only].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the records of storesim topics as they arrive (read_committed, nothing committed): new ones
    only, or with --from-beginning everything up to now."""
    from storesim.kafka import TailError, TopicReader, check_registry
    from storesim.settings import AdminSettings

    if output_format not in FORMATS:
        raise UsageError(f"--format: must be json or avro-json, got {output_format!r}")
    if max_records is not None and max_records < 1:
        raise UsageError(f"--max: must be at least 1, got {max_records}")
    if registry is not None and not re.match(r"https?://", registry):
        raise UsageError(f"--registry: expected an http:// or https:// URL, got {registry!r}")
    settings = AdminSettings.from_env()
    chosen = logical_topics(topics, settings.topic_names())
    keep = RecordFilter.of_options(list(dict.fromkeys(chosen.values())), stores or [], types or [])
    kafka = _where("--broker", broker, "KAFKA_BROKER", settings)
    if kafka is None:
        raise UsageError("--broker: give it (or set KAFKA_BROKER)")
    schemas = _where("--registry", registry, "SCHEMA_REGISTRY_URL", settings)
    counts = _Counts()
    try:
        if schemas is not None:
            check_registry(*schemas)
        with TopicReader(
            *kafka, list(chosen), from_beginning=from_beginning, follow=follow or not from_beginning
        ) as reader:
            render = renderer(output_format)
            _print_records(reader, _decoding(schemas), chosen, keep, render, max_records, counts, sys.stdout)
    except TailError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        _note(f"interrupted after {counts.line(bool(stores or types))}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted it has. Python would complain again when it
        # flushes stdout at exit, so stdout becomes /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    _note(counts.line(bool(stores or types)))


def _note(text: str) -> None:
    print(f"storesim tail: {text}", file=sys.stderr, flush=True)


def _decoding(registry: tuple[str, str] | None) -> Callable[[str, str, bytes | None], Record]:
    """RecordDecoder.decode, with what ends a tail turned into TailError: the registry away or not set.
    A DecodeError (garbage, or a schema id the registry does not hold) is the one message's fault: the
    tail notes it and goes on, as a consumer dead-letters it."""
    from storesim.kafka import TailError
    from storesim.streaming import RecordDecoder, RegistryUnavailableError

    decoder = RecordDecoder(registry[0] if registry else None)

    def decode(topic: str, name: str, value: bytes | None) -> Record:
        try:
            return decoder.decode(topic, name, value)
        except RegistryUnavailableError as exc:
            if registry is None:
                raise TailError(
                    f"--registry: {name} holds Confluent-framed Avro: give --registry or set "
                    "SCHEMA_REGISTRY_URL"
                ) from None
            detail = " ".join(str(exc).split())
            raise TailError(f"{registry[1]}: cannot reach the schema registry: {detail}") from None

    return decode


def _print_records(
    reader: TopicReader,
    decode: Callable[[str, str, bytes | None], Record],
    chosen: dict[str, str],
    keep: RecordFilter,
    render: Callable[[str, Record], str],
    limit: int | None,
    counts: _Counts,
    out: TextIO,
) -> None:
    """Poll, decode, filter, print, until the reader is finished or ``limit`` records are out; stdout
    is flushed after each poll, so that a line shows as soon as its message arrives."""
    from storesim.streaming import DecodeError

    announced = False
    while not reader.finished:
        for message in reader.poll(_POLL_SECONDS):
            topic = chosen[message.name]
            try:
                record = decode(topic, message.name, message.value)
            except DecodeError as exc:
                counts.skipped += 1
                _note(f"{message.name} [{message.partition}] offset {message.offset}: skipped: {exc}")
                continue
            counts.read += 1
            if not keep(topic, record):
                continue
            out.write(render(topic, record) + "\n")
            counts.printed += 1
            if counts.printed == limit:
                out.flush()
                return
        out.flush()
        if reader.caught_up and not reader.finished and not announced:
            announced = True
            _note(f"{_count(counts.printed, 'record')} so far; following (Ctrl-C stops)")
