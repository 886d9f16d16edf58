"""Sessions per store (foot_traffic) and ledger transactions per store, read from Kafka as they arrive:
what the live-store tests count, on the local stack and on the cluster."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from storesim._keys import decode_customer_id


class Tally:
    """Sessions per store (foot_traffic) and ledger transactions per store, read as they arrive."""

    def __init__(self, stack: dict[str, str], foot: str, transactions: str) -> None:
        self.foot, self.transactions = foot, transactions
        self.consumer = Consumer(
            {
                "bootstrap.servers": stack["KAFKA_BROKER"],
                "group.id": f"test-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        self.consumer.subscribe([foot, transactions])
        self.decode = AvroDeserializer(SchemaRegistryClient({"url": stack["SCHEMA_REGISTRY_URL"]}))
        self.sessions: Counter[int] = Counter()
        self.sales: Counter[str] = Counter()
        self.entries: dict[int, list[int]] = {}  # store -> entry instants (UTC seconds)

    def read(self) -> Tally:
        """Everything that has arrived by now."""
        while (message := self.consumer.poll(0.2)) is not None:
            if message.error():
                continue
            topic = str(message.topic())
            record: dict[str, Any] = self.decode(
                message.value(), SerializationContext(topic, MessageField.VALUE)
            )
            if topic == self.foot:
                number = decode_customer_id(str(record["customer_id"])).store
                self.sessions[number] += 1
                self.entries.setdefault(number, []).append(int(record["entry_time"].timestamp()))
            else:
                self.sales[str(record["store_id"])] += 1
        return self

    def close(self) -> None:
        self.consumer.close()
