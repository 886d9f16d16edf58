"""Readiness checks spoken in each service's own protocol, and a polling wait with a deadline."""

from __future__ import annotations

import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

API_VERSIONS_KEY = 18


@dataclass(frozen=True)
class ApiVersions:
    error_code: int
    ranges: dict[int, tuple[int, int]]  # api key -> (min version, max version)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(chunks)} of {size} bytes")
        chunks += chunk
    return bytes(chunks)


def kafka_api_versions(host: str, port: int, timeout: float = 2.0) -> ApiVersions:
    """Sends an ApiVersions v0 request (header v1, empty body) and decodes the v0 response."""
    client_id = b"storesim-stack"
    correlation_id = 0x5707
    request = struct.pack(">hhih", API_VERSIONS_KEY, 0, correlation_id, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        payload = _recv_exact(sock, size)
    got_id, error_code, count = struct.unpack_from(">ihi", payload)
    if got_id != correlation_id:
        raise ConnectionError(f"correlation id {got_id} != {correlation_id}")
    ranges = {}
    for index in range(max(count, 0)):
        key, low, high = struct.unpack_from(">hhh", payload, 10 + 6 * index)
        ranges[key] = (low, high)
    return ApiVersions(error_code, ranges)


def kafka_ready(host: str, port: int) -> bool:
    answer = kafka_api_versions(host, port)
    return answer.error_code == 0 and API_VERSIONS_KEY in answer.ranges


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


def redis_ping(host: str, port: int, timeout: float = 2.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            reply += chunk
    return reply == b"+PONG\r\n"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def quietly(check: Callable[[], bool]) -> bool:
    """The check's answer, with a failure to connect (or any other error) counted as `False`."""
    try:
        return check()
    except Exception:
        return False


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    *,
    interval: float = 0.2,
    give_up: Callable[[], bool] | None = None,
) -> bool:
    """Polls `check` every `interval` seconds until it holds (True) or `timeout` passes or `give_up` holds."""
    deadline = time.monotonic() + timeout
    while True:
        if quietly(check):
            return True
        if time.monotonic() >= deadline or (give_up is not None and give_up()):
            return False
        time.sleep(interval)
