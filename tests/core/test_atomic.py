"""core.atomic: whole files or nothing, process-unique temporary names, clear errors."""

from __future__ import annotations

import os

import pytest

from traingen.core.atomic import TMP_SUFFIX, atomic_path, atomic_write_bytes, atomic_write_text, tmp_name
from traingen.core.errors import OutputError
from traingen.data import cache


def test_write_creates_parents_and_replaces(tmp_path):
    p = tmp_path / "a" / "b" / "f.bin"
    atomic_write_bytes(p, b"one")
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    atomic_write_text(p, "é\n")
    assert p.read_bytes() == "é\n".encode()
    assert sorted(x.name for x in p.parent.iterdir()) == ["f.bin"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]


def test_temporary_name_is_a_hidden_process_unique_sibling(tmp_path):
    t = tmp_name(tmp_path / "x.json")
    assert t.parent == tmp_path and t.name.startswith(f".x.json.{os.getpid()}.") and t.name.endswith(TMP_SUFFIX)
    assert tmp_name(tmp_path / "x.json") != t


def test_unwritable_parent_is_an_output_error_naming_the_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write") as e:
        atomic_write_bytes(blocker / "sub" / "f.bin", b"x")
    assert str(blocker / "sub" / "f.bin") in str(e.value)


def test_data_cache_reexports_the_same_writers():
    assert cache.atomic_write_bytes is atomic_write_bytes and cache.atomic_path is atomic_path
