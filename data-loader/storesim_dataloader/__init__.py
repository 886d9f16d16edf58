"""storesim's data loader: the store inventory, the weekly discounts and the daily discounts.

The files it writes are what the simulators read at /data (and what a Postgres seeding Job loads):
``store_inventory_final.parquet``, ``all_discounts.parquet`` and ``daily_discounts.csv``.
"""

from storesim_dataloader._catalogue import CATALOGUE_CSV, read_catalogue
from storesim_dataloader._discounts import DEFAULT_DATA_SEED, daily_discounts, weekly_discounts
from storesim_dataloader._files import (
    DAILY_DISCOUNTS_CSV,
    INVENTORY_PARQUET,
    WEEKLY_DISCOUNTS_PARQUET,
    read_daily_discounts_csv,
    write_dataset,
)

__all__ = [
    "CATALOGUE_CSV",
    "DAILY_DISCOUNTS_CSV",
    "DEFAULT_DATA_SEED",
    "INVENTORY_PARQUET",
    "WEEKLY_DISCOUNTS_PARQUET",
    "daily_discounts",
    "read_catalogue",
    "read_daily_discounts_csv",
    "weekly_discounts",
    "write_dataset",
]
