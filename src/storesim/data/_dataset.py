"""The simulators' view of the data set: a Catalogue and Discounts, whatever they were read from."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import storesim_dataloader as loader
from storesim.world import Catalogue, Discounts, Item

__all__ = ["Dataset", "DatasetError", "build_dataset", "dataset_from_tables", "load_dataset"]

_INVENTORY_COLUMNS = ("shelf_id", "item_price", "item_weight", "item_visibility")
_WEEKLY_COLUMNS = ("shelf_id", "discount", "week")
_DAILY_COLUMNS = ("date", "shelf_id", "discount")


class DatasetError(ValueError):
    """A data file is missing or lacks what the simulators need."""


@dataclass(frozen=True, slots=True)
class Dataset:
    catalogue: Catalogue
    discounts: Discounts


def _require(table: pa.Table, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DatasetError(f"{what} lacks column(s) {', '.join(missing)}")


def _pct(fraction: float) -> int:
    return round(fraction * 100)


def dataset_from_tables(inventory: pa.Table, weekly: pa.Table, daily: pa.Table | None) -> Dataset:
    _require(inventory, _INVENTORY_COLUMNS, "inventory")
    _require(weekly, _WEEKLY_COLUMNS, "weekly discounts")
    rows = inventory.to_pylist()
    items = tuple(
        Item(
            shelf_id=str(row["shelf_id"]),
            name=str(row.get("item_name") or row["shelf_id"]),
            category=str(row.get("category") or ""),
            price_cents=round(float(row["item_price"]) * 100),
            weight=float(row["item_weight"]),
            visibility=float(row["item_visibility"]),
        )
        for row in rows
    )
    if not items:
        raise DatasetError("inventory has no items")
    weekly_map: dict[int, dict[str, int]] = defaultdict(dict)
    for row in weekly.to_pylist():
        weekly_map[int(row["week"])][str(row["shelf_id"])] = _pct(float(row["discount"]))
    daily_map: dict[date, dict[str, int]] = defaultdict(dict)
    if daily is not None:
        _require(daily, _DAILY_COLUMNS, "daily discounts")
        for row in daily.to_pylist():
            daily_map[row["date"]][str(row["shelf_id"])] = _pct(float(row["discount"]))
    return Dataset(Catalogue(items), Discounts(dict(weekly_map), dict(daily_map)))


def load_dataset(directory: Path) -> Dataset:
    """Reads the three files the data loader writes into ``directory``."""
    paths = [
        directory / loader.INVENTORY_PARQUET,
        directory / loader.WEEKLY_DISCOUNTS_PARQUET,
        directory / loader.DAILY_DISCOUNTS_CSV,
    ]
    for path in paths:
        if not path.is_file():
            raise DatasetError(
                f"{path} does not exist (build it with: storesim-data-loader build --out {directory})"
            )
    return dataset_from_tables(
        pq.read_table(paths[0]), pq.read_table(paths[1]), loader.read_daily_discounts_csv(paths[2])
    )


def build_dataset(first: date, last: date, seed: int = loader.DEFAULT_DATA_SEED) -> Dataset:
    """The data loader's data set, for the given dates, without touching the disk."""
    inventory = loader.read_catalogue()
    shelf_ids = inventory.column("shelf_id").to_pylist()
    return dataset_from_tables(
        inventory,
        loader.weekly_discounts(shelf_ids, seed),
        loader.daily_discounts(shelf_ids, first, last, seed),
    )
