"""Monitor records files: JSON lines (``.jsonl``) or CSV (``.csv``), chosen by suffix.

A file holds the Monitor's ``meta`` dict, its records (``records`` chunks: columnar
dicts with a ``series`` table of ``(layer, tensor, metric)``, ``step``, ``epoch``,
``code``, ``value``; see :mod:`diagnostics.records`) and its history rows. It is
written whole (atomically) or created once and appended at each epoch end (each
append flushed to disk, so a crash loses at most the current epoch); the meta is
repeated after each append and the last one wins when reading.

``.jsonl``: one JSON object per line: ``{"kind": "meta", "meta": {...}}`` first, then
``{"kind": "records", ...}`` chunks and ``{"kind": "history", "row": {...}}`` lines.

``.csv``: ``#meta {json}`` lines (the first line is one) and a table with the header
``kind,step,epoch,layer,tensor,metric,value``: ``record`` rows hold one value each (the
rows of ``Monitor.frame``, by step within each write); ``history`` rows hold one entry
of a history row (``step``: the row's index, ``metric``: the column, ``value``: the
JSON of the value).
``pandas.read_csv(path, comment="#")`` reads the table.

Non-finite values are written as ``NaN``/``Infinity`` (JSON) or ``nan``/``inf`` (CSV).
A torn last line (a crash while appending) is ignored when reading.
"""

from __future__ import annotations

import csv
import io
import json
import os
from operator import itemgetter
from pathlib import Path

import numpy as np

from diagnostics.atomic import write_atomically

__all__ = ["SUFFIXES", "append_records", "check_path", "read_records", "write_records"]

SUFFIXES = (".jsonl", ".csv")
_CSV_HEADER = ["kind", "step", "epoch", "layer", "tensor", "metric", "value"]
_META = "#meta "


def check_path(path, name: str = "path") -> Path:
    """``path`` as a Path, after checking that its suffix names a format."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"Monitor: {name} must end in .jsonl (JSON lines) or .csv, got {path}")
    return path


def _json(obj) -> str:
    return json.dumps(obj, default=_json_default)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to a records file")


def _jsonl_text(meta, chunks, history, history_start, first) -> str:
    """JSON lines of one write; ``history_start`` is unused (rows are self-contained)."""
    objects = [*chunks, *({"kind": "history", "row": row} for row in history)]
    meta_line = {"kind": "meta", "meta": meta}
    objects = [meta_line, *objects] if first else [*objects, meta_line]
    return "".join(_json(obj) + "\n" for obj in objects)


def _csv_text(meta, chunks, history, history_start, first) -> str:
    """CSV text of one write: records and history rows, the meta line (first or last)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if first:
        out.write(_META + _json(meta) + "\n")
        writer.writerow(_CSV_HEADER)
    rows = [("record", step, epoch, *chunk["series"][code], value) for chunk in chunks
            for step, epoch, code, value in zip(chunk["step"], chunk["epoch"], chunk["code"],
                                                chunk["value"], strict=True)]
    writer.writerows(sorted(rows, key=itemgetter(1)))  # by step, stable: as Monitor.frame
    for index, row in enumerate(history, history_start):
        writer.writerows(("history", index, row.get("epoch", ""), "", "", key, _json(value))
                         for key, value in row.items())
    if not first:
        out.write(_META + _json(meta) + "\n")
    return out.getvalue()


def _text(path: Path, *args) -> str:
    return (_csv_text if path.suffix.lower() == ".csv" else _jsonl_text)(*args)


def write_records(path, meta: dict, chunks=(), history=()) -> Path:
    """Write a whole records file atomically; return its path."""
    path = check_path(path)
    return write_atomically(path, _text(path, meta, chunks, history, 0, True))


def append_records(path, meta: dict, chunks, history, history_start: int) -> None:
    """Append records and history rows (numbered from ``history_start`` in CSV) and the
    meta to a file made by :func:`write_records`; flush them to disk."""
    path = Path(path)
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(_text(path, meta, chunks, history, history_start, False))
        handle.flush()
        os.fsync(handle.fileno())


def _complete_lines(path: Path) -> list[str]:
    """The file's lines without a torn (unterminated) last one."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    return lines[:-1]  # the piece after the last newline: empty, or torn


def read_records(path) -> tuple[dict, list[dict], list[dict]]:
    """``(meta, chunks, history rows)`` of a file written by this module.

    Raises
    ------
    ValueError
        The suffix is neither .jsonl nor .csv, the file is not a records file, or a
        line before the last is broken.
    """
    path = check_path(path)
    lines = _complete_lines(path)
    read = _read_csv if path.suffix.lower() == ".csv" else _read_jsonl
    return read(path, lines)


def _not_records(path) -> ValueError:
    return ValueError(f"{path}: not a diagnostics records file (no meta line first)")


def _read_jsonl(path, lines) -> tuple[dict, list[dict], list[dict]]:
    objects = []
    for number, line in enumerate(lines, 1):
        try:
            objects.append(json.loads(line))
        except json.JSONDecodeError:
            raise ValueError(f"{path}: line {number} is not valid JSON") from None
    if not objects or objects[0].get("kind") != "meta":
        raise _not_records(path)
    meta = {}
    for obj in objects:
        if obj["kind"] == "meta":
            meta.update(obj["meta"])
    return (meta, [obj for obj in objects if obj["kind"] == "records"],
            [obj["row"] for obj in objects if obj["kind"] == "history"])


def _read_csv(path, lines) -> tuple[dict, list[dict], list[dict]]:
    if not lines or not lines[0].startswith(_META):
        raise _not_records(path)
    meta = {}
    for line in lines:
        if line.startswith(_META):
            meta.update(json.loads(line[len(_META):]))
    numbers = [number for number, line in enumerate(lines, 1) if not line.startswith(_META)]
    if not numbers or lines[numbers[0] - 1] != ",".join(_CSV_HEADER):
        raise ValueError(f"{path}: the CSV header must be {','.join(_CSV_HEADER)}")
    chunk = {"kind": "records", "series": [], "step": [], "epoch": [], "code": [], "value": []}
    codes, history = {}, {}
    rows = csv.reader(lines[number - 1] for number in numbers[1:])
    for number, row in zip(numbers[1:], rows, strict=True):
        try:
            kind, step, epoch, *key, value = row
            if kind == "history":
                history.setdefault(int(step), {})[key[2]] = json.loads(value)
                continue
            items = (int(step), int(epoch), codes.setdefault(tuple(key), len(codes)),
                     float(value))
        except ValueError:  # also a wrong number of fields, or a bad JSON value
            raise ValueError(f"{path}: line {number} is not a records row") from None
        if kind != "record" or len(key) != 3:
            raise ValueError(f"{path}: line {number} is not a records row")
        if items[2] == len(chunk["series"]):
            chunk["series"].append(key)
        for name, item in zip(("step", "epoch", "code", "value"), items, strict=True):
            chunk[name].append(item)
    return meta, [chunk], [history[i] for i in sorted(history)]
