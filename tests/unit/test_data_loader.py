"""The data loader: its catalogue, its discounts, and `storesim-data-loader build`."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import storesim_dataloader as loader
from storesim.data import DatasetError, build_dataset, load_dataset

DATA_LOADER = Path(sys.executable).with_name("storesim-data-loader")
FIRST, LAST = date(2025, 1, 1), date(2025, 1, 31)
FILES = (loader.INVENTORY_PARQUET, loader.WEEKLY_DISCOUNTS_PARQUET, loader.DAILY_DISCOUNTS_CSV)
CATALOGUE_TYPES = {
    "shelf_id": pa.string(),
    "item_name": pa.string(),
    "category": pa.string(),
    "item_price": pa.float64(),
    "item_weight": pa.float64(),
    "item_visibility": pa.float64(),
}


def run_loader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DATA_LOADER), *args],
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def build(out: Path, first: date = FIRST, last: date = LAST, *extra: str) -> Path:
    result = run_loader(
        "build", "--out", str(out), "--from", first.isoformat(), "--to", last.isoformat(), *extra
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(out / name) for name in FILES]
    return out


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `storesim-data-loader build` of January 2025, shared by the tests that only read it."""
    return build(tmp_path_factory.mktemp("data") / "january")


@pytest.fixture(scope="module")
def catalogue() -> pa.Table:
    return loader.read_catalogue()


@pytest.fixture(scope="module")
def shelf_ids(catalogue: pa.Table) -> set[str]:
    return set(catalogue.column("shelf_id").to_pylist())


# --- the catalogue ------------------------------------------------------------------------------


def test_the_catalogue_has_the_inventory_columns_and_types(catalogue: pa.Table) -> None:
    assert catalogue.num_rows >= 300
    assert catalogue.column_names == list(CATALOGUE_TYPES)
    for name, arrow_type in CATALOGUE_TYPES.items():
        assert catalogue.schema.field(name).type == arrow_type, name
        assert catalogue.column(name).null_count == 0, name


def test_the_catalogue_shelf_ids_are_unique(catalogue: pa.Table) -> None:
    ids = catalogue.column("shelf_id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert all(shelf_id.strip() == shelf_id and shelf_id for shelf_id in ids)


def test_the_catalogue_values_are_plausible(catalogue: pa.Table) -> None:
    for row in catalogue.to_pylist():
        assert row["item_price"] > 0, row
        assert row["item_weight"] > 0, row
        assert 0 < row["item_visibility"] <= 1, row
        assert row["category"].strip(), row


def test_the_catalogue_names_are_real_words(catalogue: pa.Table) -> None:
    rows = catalogue.to_pylist()
    for row in rows:
        name = row["item_name"]
        assert any(word.isalpha() and len(word) >= 4 for word in name.split()), row
        assert name != row["shelf_id"], row
    assert len({row["item_name"] for row in rows}) == len(rows), "every item has its own name"
    assert len({row["category"] for row in rows}) > 5


# --- the built files ---------------------------------------------------------------------------------


def test_build_writes_the_three_files(built: Path) -> None:
    assert sorted(path.name for path in built.iterdir()) == sorted(FILES)


def test_the_inventory_parquet_is_the_catalogue(built: Path, catalogue: pa.Table) -> None:
    inventory = pq.read_table(built / loader.INVENTORY_PARQUET)

    assert inventory.schema.names == catalogue.schema.names
    assert inventory.schema.types == catalogue.schema.types
    assert inventory.to_pylist() == catalogue.to_pylist()


def test_the_weekly_discounts(built: Path, shelf_ids: set[str]) -> None:
    weekly = pq.read_table(built / loader.WEEKLY_DISCOUNTS_PARQUET)

    assert weekly.column_names == ["shelf_id", "discount", "week"]
    rows = weekly.to_pylist()
    weeks = {row["week"] for row in rows}
    assert weeks == set(range(1, 54)), "every ISO week 1..53 has discounts, and no other week"
    for row in rows:
        assert 0 < row["discount"] <= 0.5, row
        assert row["shelf_id"] in shelf_ids, row
    pairs = [(row["week"], row["shelf_id"]) for row in rows]
    assert len(set(pairs)) == len(pairs), "an item is discounted at most once a week"


def test_the_daily_discounts(built: Path, shelf_ids: set[str]) -> None:
    header, *rows = csv_rows(built / loader.DAILY_DISCOUNTS_CSV)

    assert header == ["date", "shelf_id", "discount"]
    dates = {date.fromisoformat(day) for day, _, _ in rows}
    assert dates == {FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)}
    for day, shelf_id, discount in rows:
        assert shelf_id in shelf_ids, (day, shelf_id)
        assert 0 < float(discount) <= 0.5, (day, shelf_id, discount)
    pairs = [(day, shelf_id) for day, shelf_id, _ in rows]
    assert len(set(pairs)) == len(pairs), "an item is discounted at most once a day"
    read_back = loader.read_daily_discounts_csv(built / loader.DAILY_DISCOUNTS_CSV)
    assert read_back.num_rows == len(rows)
    assert read_back.schema.field("date").type == pa.date32()


# --- determinism -----------------------------------------------------------------------------------


def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again")

    for name in FILES:
        assert (again / name).read_bytes() == (built / name).read_bytes(), name


def test_daily_discounts_of_a_sub_range_are_the_full_range_restricted(built: Path, tmp_path: Path) -> None:
    first, last = date(2025, 1, 10), date(2025, 1, 20)
    part = build(tmp_path / "part", first, last)

    header, *full_rows = csv_rows(built / loader.DAILY_DISCOUNTS_CSV)
    part_header, *part_rows = csv_rows(part / loader.DAILY_DISCOUNTS_CSV)
    assert part_header == header
    expected = [row for row in full_rows if first <= date.fromisoformat(row[0]) <= last]
    assert expected, "the sub-range has discounts"
    assert part_rows == expected
    for name in (loader.INVENTORY_PARQUET, loader.WEEKLY_DISCOUNTS_PARQUET):
        assert (part / name).read_bytes() == (built / name).read_bytes(), name


def test_daily_discounts_across_a_year_boundary_are_range_independent(shelf_ids: set[str]) -> None:
    ids = sorted(shelf_ids)
    wide = loader.daily_discounts(ids, date(2024, 12, 20), date(2025, 1, 10)).to_pylist()
    narrow = loader.daily_discounts(ids, date(2024, 12, 30), date(2025, 1, 2)).to_pylist()

    assert narrow == [row for row in wide if date(2024, 12, 30) <= row["date"] <= date(2025, 1, 2)]
    assert {row["date"] for row in narrow} == {date(2024, 12, 30) + timedelta(days=n) for n in range(4)}


def test_another_seed_gives_other_discounts(built: Path, tmp_path: Path) -> None:
    other = build(tmp_path / "other", FIRST, LAST, "--seed", "7")

    assert (other / loader.INVENTORY_PARQUET).read_bytes() == (built / loader.INVENTORY_PARQUET).read_bytes()
    assert pq.read_table(other / loader.WEEKLY_DISCOUNTS_PARQUET).to_pylist() != (
        pq.read_table(built / loader.WEEKLY_DISCOUNTS_PARQUET).to_pylist()
    )
    assert csv_rows(other / loader.DAILY_DISCOUNTS_CSV) != csv_rows(built / loader.DAILY_DISCOUNTS_CSV)


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "name"),
    [
        pytest.param(["--from", "2025-01-31", "--to", "2025-01-01"], "--to", id="to-before-from"),
        pytest.param(["--from", "2025-02-30", "--to", "2025-03-01"], "--from", id="from-not-a-date"),
        pytest.param(["--from", "2025-01-01", "--to", "31.01.2025"], "--to", id="to-not-a-date"),
        pytest.param(["--from", "2025-01-01", "--to", "2025-01-31", "--seed", "x"], "--seed", id="seed-x"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(tmp_path: Path, args: list[str], name: str) -> None:
    out = tmp_path / "out"

    result = run_loader("build", "--out", str(out), *args)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert result.stdout == ""
    assert not out.exists()


def test_an_unwritable_out_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("a regular file, so nothing can be created under it\n")

    result = run_loader(
        "build", "--out", str(tmp_path / "afile" / "sub"), "--from", "2025-01-01", "--to", "2025-01-02"
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "--out" in lines[0]


# --- storesim.data reads what the loader writes ----------------------------------------------------


def test_load_dataset_reads_what_build_dataset_builds(built: Path) -> None:
    loaded = load_dataset(built)
    in_memory = build_dataset(FIRST, LAST)

    assert loaded.catalogue == in_memory.catalogue
    assert loaded.discounts == in_memory.discounts
    assert len(loaded.catalogue.items) == loader.read_catalogue().num_rows
    assert set(loaded.discounts.daily) == {FIRST + timedelta(days=n) for n in range(31)}
    assert set(loaded.discounts.weekly) == set(range(1, 54))


def test_load_dataset_of_an_empty_directory_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=loader.INVENTORY_PARQUET):
        load_dataset(tmp_path)


@pytest.mark.parametrize("missing", FILES)
def test_load_dataset_names_each_missing_file(built: Path, tmp_path: Path, missing: str) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(built, partial)
    (partial / missing).unlink()

    with pytest.raises(DatasetError, match=missing.replace(".", r"\.")):
        load_dataset(partial)
