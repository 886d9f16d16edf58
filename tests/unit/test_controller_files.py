"""STORES_FILE, the plain process's stand-in for the ConfigMap's projection: written whole and renamed into
place, and not touched at all when it already holds the bytes (the simulators poll it)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from storesim.operator._outputs import write_file_atomically
from storesim.world import StoreSpec, write_stores_file

TEXT = write_stores_file([StoreSpec(store_id="STORE-004", daily_customers=40)])


def test_a_new_file_is_written(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "stores.json"
    assert write_file_atomically(path, TEXT)
    assert path.read_text(encoding="utf-8") == TEXT
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "readable by a simulator running as another user"
    assert os.listdir(path.parent) == ["stores.json"], "no temporary file left behind"


def test_the_same_bytes_are_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "stores.json"
    write_file_atomically(path, TEXT)
    before = path.stat()
    assert not write_file_atomically(path, TEXT)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_new_bytes_replace_the_file_by_a_rename(tmp_path: Path) -> None:
    """A reader holding the old file keeps reading the old bytes: the new ones are another inode."""
    path = tmp_path / "stores.json"
    write_file_atomically(path, TEXT)
    with path.open(encoding="utf-8") as reader:
        changed = write_stores_file([])
        assert write_file_atomically(path, changed)
        assert reader.read() == TEXT
    assert path.read_text(encoding="utf-8") == changed
    assert os.listdir(tmp_path) == ["stores.json"]
