"""File sinks of the embedded mode: one Avro object container file or JSON-lines file per topic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

from storesim.events._avro import ContainerWriter
from storesim.events._schemas import json_record, raw_schema
from storesim.events._topics import Record

__all__ = ["FileSink", "OutputFormat"]

OutputFormat = Literal["avro", "json"]


class FileSink:
    """Writes each logical topic to ``<out>/<name>.avro`` or ``.jsonl`` (name: the configured topic).

    Avro files carry their schema; their sync marker is derived from the seed and topic instead of
    drawn at random, so the same run writes the same bytes.
    """

    def __init__(self, out: Path, names: dict[str, str], fmt: OutputFormat, seed: int) -> None:
        self.out = out
        self.format = fmt
        self._names = names
        self._seed = seed
        self._files: dict[str, IO[Any]] = {}
        self._writers: dict[str, ContainerWriter] = {}
        self.paths: dict[str, Path] = {}
        for topic in names:
            self._open(topic)

    def _open(self, topic: str) -> None:
        path = self.out / f"{self._names[topic]}.{'avro' if self.format == 'avro' else 'jsonl'}"
        self.paths[topic] = path
        handle: IO[Any]
        if self.format == "avro":
            handle = path.open("wb")
            marker = hashlib.blake2b(f"{self._seed}/{topic}".encode(), digest_size=16).digest()
            # The header carries schemas/ verbatim, so the same run writes the same bytes.
            self._writers[topic] = ContainerWriter(handle, raw_schema(topic), marker)
        else:
            handle = path.open("w", encoding="utf-8")
        self._files[topic] = handle

    def write(self, topic: str, key: str, record: Record) -> None:
        """One event; its Kafka key is not part of a file (the record holds the ids it is made of)."""
        if self.format == "avro":
            self._writers[topic].write(record)
        else:
            self._files[topic].write(json.dumps(json_record(topic, record), ensure_ascii=False) + "\n")

    def close(self) -> None:
        for writer in self._writers.values():
            writer.flush()
        for handle in self._files.values():
            handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
