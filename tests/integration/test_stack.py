"""The local stack answers as the services will use it: Kafka, the schema registry, Redis, PostgreSQL."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType

from tests.integration.conftest import REPO, SERVICES, STACK, read_env, stack_status

REQUIRED_SETTINGS = (
    "KAFKA_BROKER",
    "SCHEMA_REGISTRY_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "PG_HOST",
    "PG_PORT",
    "PG_DB",
    "PG_USER",
    "PG_PASS",
)
SUBJECT = "stack-test-value"
SCHEMA_REGISTRY_JSON = "application/vnd.schemaregistry.v1+json"


def load_probes() -> ModuleType:
    """scripts/_stack/probes.py (standard library only), the hand-encoded Kafka ApiVersions check."""
    spec = importlib.util.spec_from_file_location("stack_probes", REPO / "scripts" / "_stack" / "probes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def request_json(url: str, method: str = "GET", body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", SCHEMA_REGISTRY_JSON)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def psql() -> str:
    found = shutil.which("psql") or max(Path("/usr/lib/postgresql").glob("*/bin/psql"), default=None)
    assert found is not None, "psql is not installed"
    return str(found)


def test_kafka_answers_api_versions(kafka_bootstrap: str) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)
    answer = load_probes().kafka_api_versions(host, int(port))
    assert answer.error_code == 0
    # ApiVersions (18), Produce (0), Fetch (1), Metadata (3) and CreateTopics (19) are all served.
    assert {0, 1, 3, 18, 19} <= set(answer.ranges)
    assert answer.ranges[18][0] == 0


def test_registry_lists_subjects(registry_url: str) -> None:
    subjects = request_json(f"{registry_url}/subjects")
    assert isinstance(subjects, list)


def test_registry_registers_an_avro_schema(registry_url: str) -> None:
    body = {"schema": json.dumps({"type": "string"})}
    try:
        registered = request_json(f"{registry_url}/subjects/{SUBJECT}/versions", "POST", body)
        assert isinstance(registered, dict)
        assert isinstance(registered["id"], int)
        subjects = request_json(f"{registry_url}/subjects")
        assert isinstance(subjects, list)
        assert SUBJECT in subjects
    finally:
        for suffix in ("", "?permanent=true"):  # a soft delete, then the permanent one
            with contextlib.suppress(OSError):
                request_json(f"{registry_url}/subjects/{SUBJECT}{suffix}", "DELETE")


def test_redis_answers_ping(redis_address: tuple[str, int]) -> None:
    with socket.create_connection(redis_address, timeout=10) as connection:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert connection.recv(64) == b"+PONG\r\n"


def test_postgres_accepts_the_application_user(stack: dict[str, str]) -> None:
    query = (
        "select 1, current_user, current_database(),"
        " (select nspowner::regrole from pg_namespace where nspname = 'analytics')"
    )
    login = ["-U", stack["PG_USER"], "-d", stack["PG_DB"]]
    result = subprocess.run(
        [psql(), "-X", "-At", "-F", " ", "-h", stack["PG_HOST"], "-p", stack["PG_PORT"], *login, "-c", query],
        env={**os.environ, "PGPASSWORD": stack["PG_PASS"], "PGCONNECT_TIMEOUT": "10"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "bdt_user", "smart_shelf", "bdt_user"]


def test_pg_dsn_connects(pg_dsn: str) -> None:
    result = subprocess.run(
        [psql(), "-X", "-At", pg_dsn, "-c", "select count(*) from information_schema.schemata"],
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 1


def test_env_file_has_every_setting(stack: dict[str, str]) -> None:
    written = read_env(REPO / ".stack" / "env")
    assert written == stack
    missing = [name for name in REQUIRED_SETTINGS if not written.get(name)]
    assert not missing, f".stack/env lacks {missing}"
    assert written["SCHEMA_REGISTRY_URL"].endswith("/apis/ccompat/v7")


def test_status_lists_every_service_running(stack: dict[str, str]) -> None:
    rows = stack_status()
    assert [(row["name"], row["state"]) for row in rows] == [(name, "running") for name in SERVICES]
    assert all(isinstance(row["pid"], int) for row in rows)
    text = subprocess.run(
        [str(STACK), "status"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[name, "running"] for name in SERVICES]
