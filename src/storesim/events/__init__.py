"""Events: topics, their Avro schemas, the seeds' JSON shapes, and file sinks."""

from storesim.events._avro import compile_encoder
from storesim.events._files import FileSink, OutputFormat
from storesim.events._money import money_reader
from storesim.events._schemas import (
    blank_record,
    json_record,
    parsed_schema,
    raw_schema,
    record_from_json,
    schema_dir,
)
from storesim.events._topics import (
    FOOT_TRAFFIC,
    FOOT_TRAFFIC_REALISTIC,
    OUTPUTS,
    POS_EVENTS,
    POS_TRANSACTIONS,
    REFUNDS,
    SHELF_EVENTS,
    TOPICS,
    TRANSACTIONS,
    TRUTH,
    Emitted,
    Record,
    event_time_field,
)

__all__ = [
    "FOOT_TRAFFIC",
    "FOOT_TRAFFIC_REALISTIC",
    "OUTPUTS",
    "POS_EVENTS",
    "POS_TRANSACTIONS",
    "REFUNDS",
    "SHELF_EVENTS",
    "TOPICS",
    "TRANSACTIONS",
    "TRUTH",
    "Emitted",
    "FileSink",
    "OutputFormat",
    "Record",
    "blank_record",
    "compile_encoder",
    "event_time_field",
    "json_record",
    "money_reader",
    "parsed_schema",
    "raw_schema",
    "record_from_json",
    "schema_dir",
]
