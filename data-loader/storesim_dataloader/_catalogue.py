"""The checked-in catalogue table (catalogue.csv) as an Arrow table with the inventory's columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["CATALOGUE_CSV", "INVENTORY_SCHEMA", "read_catalogue"]

CATALOGUE_CSV = Path(__file__).with_name("catalogue.csv")

INVENTORY_SCHEMA = pa.schema(
    [
        ("shelf_id", pa.string()),
        ("item_name", pa.string()),
        ("category", pa.string()),
        ("item_price", pa.float64()),
        ("item_weight", pa.float64()),
        ("item_visibility", pa.float64()),
    ]
)


def read_catalogue(path: Path = CATALOGUE_CSV) -> pa.Table:
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in INVENTORY_SCHEMA},
            include_columns=INVENTORY_SCHEMA.names,
        ),
    )
    return table.select(INVENTORY_SCHEMA.names).cast(INVENTORY_SCHEMA)
