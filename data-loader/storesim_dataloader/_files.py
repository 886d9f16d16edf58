"""The data set on disk: two parquet files and the daily-discount rows as CSV (Postgres COPY format)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from storesim_dataloader._discounts import DAILY_SCHEMA

__all__ = [
    "DAILY_DISCOUNTS_CSV",
    "INVENTORY_PARQUET",
    "WEEKLY_DISCOUNTS_PARQUET",
    "read_daily_discounts_csv",
    "write_dataset",
]

INVENTORY_PARQUET = "store_inventory_final.parquet"
WEEKLY_DISCOUNTS_PARQUET = "all_discounts.parquet"
DAILY_DISCOUNTS_CSV = "daily_discounts.csv"


def write_dataset(out: Path, inventory: pa.Table, weekly: pa.Table, daily: pa.Table) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / INVENTORY_PARQUET, out / WEEKLY_DISCOUNTS_PARQUET, out / DAILY_DISCOUNTS_CSV]
    pq.write_table(inventory, paths[0])
    pq.write_table(weekly, paths[1])
    pacsv.write_csv(daily, paths[2], pacsv.WriteOptions(quoting_style="none"))
    return paths


def read_daily_discounts_csv(path: Path) -> pa.Table:
    return pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types={f.name: f.type for f in DAILY_SCHEMA})
    ).cast(DAILY_SCHEMA)
