"""Loading the daily discounts into PostgreSQL (DAILY_DISCOUNT_TABLE, analytics.daily_discounts by default).

Idempotent: the dates being loaded are replaced in one transaction, so a re-run or a Job retry leaves
exactly one row per (date, shelf_id).
"""

from __future__ import annotations

import io

import psycopg2
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql

__all__ = ["PostgresError", "load_daily_discounts"]


class PostgresError(RuntimeError):
    """PostgreSQL could not be reached or refused the load."""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _table(name: str) -> sql.Composed:
    parts = name.split(".")
    return sql.SQL(".").join(sql.Identifier(part) for part in parts)


def load_daily_discounts(dsn: str, table: str, rows: pa.Table) -> int:
    """Creates the table if needed, replaces the rows of the dates in ``rows``; returns the row count."""
    target = _table(table)
    schema = table.split(".")[0] if "." in table else None
    buffer = io.BytesIO()
    pacsv.write_csv(
        rows.select(["date", "shelf_id", "discount"]), buffer, pacsv.WriteOptions(include_header=False)
    )
    dates = sorted({d.isoformat() for d in rows.column("date").to_pylist()})
    try:
        connection = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.Error as exc:
        raise PostgresError(_first_line(exc)) from None
    try:
        with connection, connection.cursor() as cursor:  # one transaction: commit, or roll back on error
            if schema is not None:
                cursor.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (date date NOT NULL, shelf_id text NOT NULL, "
                    "discount double precision NOT NULL CHECK (discount >= 0 AND discount < 1), "
                    "PRIMARY KEY (date, shelf_id))"
                ).format(target)
            )
            cursor.execute(sql.SQL("DELETE FROM {} WHERE date = ANY(%s::date[])").format(target), (dates,))
            buffer.seek(0)
            copy = sql.SQL("COPY {} (date, shelf_id, discount) FROM STDIN WITH (FORMAT csv)").format(target)
            cursor.copy_expert(copy.as_string(cursor), buffer)
    except psycopg2.Error as exc:
        raise PostgresError(_first_line(exc)) from None
    finally:
        connection.close()
    return int(rows.num_rows)
