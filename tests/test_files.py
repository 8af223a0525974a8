"""Outputs are whole or absent: a writer that fails leaves the earlier file or folder as it was."""

from __future__ import annotations

import pytest

from bertft.files import replacing, replacing_folder, write_text

pytestmark = pytest.mark.unit


def test_a_failed_write_leaves_the_earlier_file_and_no_temporary(tmp_path):
    path = write_text(tmp_path / "metrics.json", "earlier")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half of it")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    with replacing(path) as tmp:
        tmp.write_text("whole")
    assert path.read_text() == "whole"


def test_a_folder_is_replaced_only_when_whole(tmp_path):
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "model.onnx").write_text("earlier export")
    with pytest.raises(RuntimeError), replacing_folder(out) as work:
        (work / "model.onnx").write_text("refused export")
        raise RuntimeError("a parity check failed")
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]
    assert (out / "model.onnx").read_text() == "earlier export"
    with replacing_folder(out) as work:
        (work / "model.int8.onnx").write_text("new export")
    assert [p.name for p in out.iterdir()] == ["model.int8.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]
