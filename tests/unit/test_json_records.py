"""Reading the seeds' JSON back: every record of a run survives json_record → record_from_json."""

from __future__ import annotations

import pytest

from storesim.events import TOPICS, json_record, record_from_json
from tests.conftest import Run


@pytest.mark.parametrize("topic", TOPICS)
def test_the_json_form_reads_back_into_the_record_less_its_additions(chain_run: Run, topic: str) -> None:
    records = chain_run.records[topic][:300]
    assert records
    for record in records:
        avro_ready = {
            k: int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v for k, v in record.items()
        }
        seed_json = json_record(topic, avro_ready)
        back = record_from_json(topic, seed_json)
        assert json_record(topic, back) == seed_json
        assert {k: v for k, v in back.items() if v is not None} == {
            k: v for k, v in avro_ready.items() if k in seed_json and v is not None
        }


def test_a_json_event_without_a_seed_field_is_refused() -> None:
    with pytest.raises(KeyError):
        record_from_json("foot_traffic", {"customer_id": "x"})
