"""`storesim-data-loader load-postgres` into the real PostgreSQL: idempotent, and the rows are the build's."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import psycopg2

import storesim_dataloader as loader
from tests.integration.helpers import base_env

LOADER = str(Path(sys.executable).with_name("storesim-data-loader"))


def rows_in(dsn: str, table: str) -> list[tuple[date, str, float]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT date, shelf_id, discount FROM {table} ORDER BY date, shelf_id")
        result = [(row[0], str(row[1]), float(row[2])) for row in cursor.fetchall()]
    connection.close()
    return result


def test_loading_twice_leaves_exactly_the_built_rows(
    stack: dict[str, str], pg_dsn: str, tmp_path: Path
) -> None:
    table = f"analytics.daily_discounts_{uuid.uuid4().hex[:8]}"
    env = base_env(stack, DAILY_DISCOUNT_TABLE=table)
    command = [LOADER, "load-postgres", "--from", "2025-11-01", "--to", "2025-11-07"]
    for _ in range(2):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
    shelf_ids = loader.read_catalogue().column("shelf_id").to_pylist()
    built = loader.daily_discounts(shelf_ids, date(2025, 11, 1), date(2025, 11, 7)).to_pylist()
    expected = sorted((row["date"], row["shelf_id"], row["discount"]) for row in built)
    assert rows_in(pg_dsn, table) == expected

    # The same rows from the files a build wrote (what the chart's Job loads).
    out = tmp_path / "data"
    build = [LOADER, "build", "--out", str(out), "--from", "2025-11-01", "--to", "2025-11-07"]
    assert subprocess.run(build, capture_output=True, timeout=60, check=False).returncode == 0
    from_files = subprocess.run(
        [LOADER, "load-postgres", "--data", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert from_files.returncode == 0, from_files.stderr
    assert rows_in(pg_dsn, table) == expected


def test_an_unreachable_database_is_one_line_and_exit_1(stack: dict[str, str]) -> None:
    env = base_env(stack, PG_PORT="9")
    result = subprocess.run(
        [LOADER, "load-postgres", "--from", "2025-11-01", "--to", "2025-11-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PG_HOST" in lines[0]
