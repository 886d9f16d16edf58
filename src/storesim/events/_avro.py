"""Avro binary encoding compiled from our schemas, and an object-container-file writer.

fastavro interprets a schema for every record (about 6 µs a record here), which alone would bound the
embedded mode below its throughput target. Our schemas use a small subset of Avro (records, enums,
strings, ints/longs, doubles, money decimals, arrays and ["null", T] unions), so each schema is
compiled once into a Python function that concatenates pre-encoded pieces. The tests check it byte for
byte against fastavro's own encoder on every record of a run, and read the files back with fastavro.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import IO, Any

from storesim.events._money import decimal_bytes, is_money

__all__ = ["ContainerWriter", "compile_encoder", "long_bytes"]

_pack_double = struct.Struct("<d").pack
_CACHE_LIMIT = 16_384  # recent values only: ids repeat within a visit, timestamps within seconds


def _varint(n: int) -> bytes:
    """The unsigned base-128 groups of ``n``, least significant first."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_LOW_GROUPS = [bytes(((n & 0x7F) | 0x80,)) for n in range(128)]  # a group that has more after it


def long_bytes(value: int) -> bytes:
    """Avro's zig-zag variable-length encoding of an int or long."""
    return _varint((value << 1) ^ (value >> 63))


def _remember(cache: dict[Any, bytes], value: Any, encoded: bytes) -> bytes:
    """Caches ``encoded`` as ``value``'s, forgetting everything once the cache is full (recent values are
    the ones that repeat), and returns it."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[value] = encoded
    return encoded


class _Strings:
    """Encoded strings, cached: ids, item ids and labels repeat across millions of events.

    The compiled code looks ``cache`` up inline and calls this only on a miss (so it does not look
    again): a Python call per field cost a sixth of the embedded run (py-spy).
    """

    __slots__ = ("cache",)

    def __init__(self) -> None:
        self.cache: dict[str, bytes] = {}

    def __call__(self, value: str) -> bytes:
        raw = value.encode()
        return _remember(self.cache, value, long_bytes(len(raw)) + raw)


class _Money:
    """Encoded money decimals (length-prefixed), cached like _Strings: prices repeat on every line."""

    __slots__ = ("cache", "precision")

    def __init__(self, precision: int) -> None:
        self.precision = precision
        self.cache: dict[float, bytes] = {}

    def __call__(self, value: float) -> bytes:
        raw = decimal_bytes(value, self.precision)
        return _remember(self.cache, value, long_bytes(len(raw)) + raw)


class _Long:
    """long_bytes with the small values kept for good and recent large ones (timestamps) cached.

    Like _Strings, the compiled code reads ``cache`` inline. A miss on a non-negative value reuses
    the encoding of its upper bits: millisecond timestamps share them for 64 ms at a time.
    """

    __slots__ = ("cache", "small", "upper")

    def __init__(self) -> None:
        self.small = {n: long_bytes(n) for n in range(64)}
        self.cache: dict[int, bytes] = dict(self.small)
        self.upper: dict[int, bytes] = {}

    def __call__(self, value: int) -> bytes:
        if value < 64:
            return long_bytes(value)  # negative: rare in our events, never cached
        n = value << 1  # zig-zag of a non-negative value
        high = n >> 7
        upper = self.upper.get(high) or _remember(self.upper, high, _varint(high))
        encoded = _LOW_GROUPS[n & 0x7F] + upper
        if len(self.cache) >= _CACHE_LIMIT:
            self.cache.clear()
            self.cache.update(self.small)
        self.cache[value] = encoded
        return encoded


class _Compiler:
    """Turns a schema into one Python expression per value; helpers it names go into ``self.env``."""

    def __init__(self) -> None:
        longs, strings = _Long(), _Strings()
        self.env: dict[str, Any] = {
            "_long": longs,
            "_longs": longs.cache,
            "_double": _pack_double,
            "_str": strings,
            "_strs": strings.cache,
        }
        self._counter = 0

    def _name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def expression(self, schema: Any, value: str) -> str:
        """A Python expression giving the Avro encoding of ``value`` (itself an expression)."""
        if isinstance(schema, str):
            schema = {"type": schema}
        if isinstance(schema, list):
            return self._union(schema, value)
        kind = schema["type"]
        if isinstance(kind, dict | list):
            return self.expression(kind, value)
        if kind == "bytes":
            if not is_money(schema):
                raise ValueError("storesim's Avro encoder supports bytes only as money decimals")
            money = self._name("_money")
            encode = self.env[money] = _Money(schema["precision"])
            self.env[f"{money}s"] = encode.cache
            return f"({money}s.get({value}) or {money}({value}))"
        if kind == "string":
            return f"(_strs.get({value}) or _str({value}))"
        if kind in ("int", "long"):
            return f"(_longs.get({value}) or _long({value}))"
        if kind == "double":
            return f"_double({value})"
        if kind == "boolean":
            return f"(b'\\x01' if {value} else b'\\x00')"
        if kind == "enum":
            table = self._name("_enum")
            self.env[table] = {symbol: long_bytes(i) for i, symbol in enumerate(schema["symbols"])}
            return f"{table}[{value}]"
        if kind == "record":
            parts = ", ".join(self.expression(f["type"], f"{value}[{f['name']!r}]") for f in schema["fields"])
            return f"b''.join(({parts},))"
        if kind == "array":
            item = self._name("_item")
            encode_item = self._name("_encode")
            self.env[encode_item] = self.function(schema["items"], item)
            items = self._name("_items")
            return (
                f"(_long(len({items})) + b''.join(map({encode_item}, {items})) + b'\\x00' "
                f"if ({items} := {value}) else b'\\x00')"
            )
        raise ValueError(f"storesim's Avro encoder does not support {kind!r}")

    def _union(self, branches: list[Any], value: str) -> str:
        if len(branches) != 2 or branches[0] != "null":
            raise ValueError(f'storesim\'s Avro encoder supports only ["null", T] unions, not {branches}')
        holder = self._name("_v")
        encoded = self.expression(branches[1], holder)
        return f"(b'\\x00' if ({holder} := {value}) is None else b'\\x02' + {encoded})"

    def function(self, schema: Any, argument: str) -> Callable[[Any], bytes]:
        source = f"def encode({argument}):\n    return {self.expression(schema, argument)}\n"
        namespace: dict[str, Any] = self.env
        exec(compile(source, "<storesim avro encoder>", "exec"), namespace)
        encode: Callable[[Any], bytes] = namespace.pop("encode")
        return encode


def compile_encoder(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes]:
    """A function that encodes one record of ``schema`` (Avro binary, no framing)."""
    return _Compiler().function(schema, "record")


class ContainerWriter:
    """An Avro object container file (uncompressed) whose blocks hold about 64 KiB of records."""

    _BLOCK_BYTES = 64 * 1024

    def __init__(self, handle: IO[bytes], schema: dict[str, Any], sync_marker: bytes) -> None:
        if len(sync_marker) != 16:
            raise ValueError("an Avro sync marker has 16 bytes")
        self._handle = handle
        self._sync = sync_marker
        self._encode = compile_encoder(schema)
        self._block: list[bytes] = []
        self._size = 0
        metadata = {"avro.schema": json.dumps(schema).encode(), "avro.codec": b"null"}
        header = [b"Obj\x01", long_bytes(len(metadata))]
        for key, value in metadata.items():
            header += [long_bytes(len(key)), key.encode(), long_bytes(len(value)), value]
        header += [b"\x00", sync_marker]
        handle.write(b"".join(header))

    def write(self, record: dict[str, Any]) -> None:
        encoded = self._encode(record)
        self._block.append(encoded)
        self._size += len(encoded)
        if self._size >= self._BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._block:
            self._handle.write(
                b"".join((long_bytes(len(self._block)), long_bytes(self._size), *self._block, self._sync))
            )
            self._block.clear()
            self._size = 0
