"""Prices and discounts as the services see them: the catalogue and weekly discounts from the data
loader's parquet files (STORE_PARQUET, DISCOUNT_PARQUET_PATH), each day's discounts from PostgreSQL
(DAILY_DISCOUNT_TABLE), read once per simulated day.

The rows go through the same conversion as the embedded mode's files, so both price alike.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg2 import sql

from storesim.data import dataset_from_tables
from storesim.world import Catalogue, DayPricing

__all__ = ["PricingSource"]


def _table(name: str) -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


class PricingSource:
    def __init__(self, store_parquet: Path, discount_parquet: Path, dsn: str, table: str) -> None:
        self._inventory = pq.read_table(store_parquet)
        self._weekly = pq.read_table(discount_parquet)
        self.catalogue: Catalogue = dataset_from_tables(self._inventory, self._weekly, None).catalogue
        self._dsn = dsn
        self._table = table
        self._days: dict[date, DayPricing] = {}

    def ensure(self, day: date) -> DayPricing:
        """The day's pricing, reading its discounts from Postgres the first time (psycopg2.Error when
        Postgres is away: the caller waits and tries again, losing nothing)."""
        pricing = self._days.get(day)
        if pricing is None:
            connection = psycopg2.connect(self._dsn, connect_timeout=3)
            try:
                with connection, connection.cursor() as cursor:
                    cursor.execute(
                        sql.SQL("SELECT shelf_id, discount FROM {} WHERE date = %s ORDER BY shelf_id").format(
                            _table(self._table)
                        ),
                        (day,),
                    )
                    rows = cursor.fetchall()
            finally:
                connection.close()
            daily = pa.table(
                {
                    "date": pa.array([day] * len(rows), pa.date32()),
                    "shelf_id": pa.array([r[0] for r in rows], pa.string()),
                    "discount": pa.array([float(r[1]) for r in rows], pa.float64()),
                }
            )
            dataset = dataset_from_tables(self._inventory, self._weekly, daily)
            pricing = self._days[day] = DayPricing(dataset.catalogue, dataset.discounts, day)
        return pricing

    def __call__(self, day: date) -> DayPricing:
        """For the engines: a day the service has already ensured."""
        return self._days[day]

    def ping(self) -> bool:
        try:
            psycopg2.connect(self._dsn, connect_timeout=2).close()
        except psycopg2.Error:
            return False
        return True
