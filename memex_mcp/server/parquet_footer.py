"""A Parquet file's column and row counts, read from its footer with the standard library.

The server names what the data dirs hold when it starts, and importing pyarrow for that would
cost it half a second. The footer is a Thrift (compact protocol) `FileMetaData`: field 2 is the
schema as a flat list whose first element, the root, has the top-level column count as its
field 5 (`num_children`); field 3 is the row count. Only that much is decoded; every other
field is skipped by its wire type.
"""

from __future__ import annotations

import struct
from pathlib import Path

_MAGIC = b"PAR1"
#: Footers larger than this are not read: a wide schema's count is not worth the memory.
_MAX_FOOTER = 16 * 2**20

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)


class FooterError(ValueError):
    pass


def counts(path: Path) -> tuple[int, int]:
    """(top-level columns, rows) of the Parquet file at `path`. Raises OSError or FooterError."""
    with path.open("rb") as file:
        file.seek(0, 2)
        size = file.tell()
        if size < 12:
            raise FooterError("too short for a Parquet file")
        file.seek(size - 8)
        tail = file.read(8)
        length = struct.unpack("<I", tail[:4])[0]
        if tail[4:] != _MAGIC or length > min(size - 12, _MAX_FOOTER):
            raise FooterError("no Parquet footer")
        file.seek(size - 8 - length)
        return _Reader(file.read(length)).file_metadata()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def file_metadata(self) -> tuple[int, int]:
        columns: int | None = None
        rows: int | None = None
        for field, kind in self._fields():
            if field == 2 and kind == _LIST:
                count, item = self._list_header()
                for index in range(count):
                    if index == 0 and item == _STRUCT:
                        columns = self._root_children()
                    else:
                        self._skip(item)
            elif field == 3 and kind == _I64:
                rows = self._int()
            else:
                self._skip(kind)
        if columns is None or rows is None:
            raise FooterError("the footer has no schema or no row count")
        return columns, rows

    def _root_children(self) -> int:
        children = 0
        for field, kind in self._fields():
            if field == 5 and kind == _I32:
                children = self._int()
            else:
                self._skip(kind)
        return children

    def _fields(self) -> _Fields:
        return _Fields(self)

    def _byte(self) -> int:
        if self.at >= len(self.data):
            raise FooterError("the footer ends early")
        self.at += 1
        return self.data[self.at - 1]

    def _varint(self) -> int:
        value = shift = 0
        while True:
            byte = self._byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7

    def _int(self) -> int:
        raw = self._varint()
        return (raw >> 1) ^ -(raw & 1)  # zigzag

    def _list_header(self) -> tuple[int, int]:
        header = self._byte()
        count = header >> 4
        return (self._varint() if count == 15 else count), header & 0x0F

    def _skip(self, kind: int) -> None:
        if kind in (_TRUE, _FALSE):
            return
        if kind == _BYTE:
            self._byte()
        elif kind in (_I16, _I32, _I64):
            self._varint()
        elif kind == _DOUBLE:
            self.at += 8
        elif kind == _BINARY:
            length = self._varint()  # read before `self.at` is: reading moves it
            self.at += length
        elif kind in (_LIST, _SET):
            count, item = self._list_header()
            for _ in range(count):
                if item in (_TRUE, _FALSE):  # in a list a boolean takes a byte of its own
                    self._byte()
                else:
                    self._skip(item)
        elif kind == _MAP:
            count = self._varint()
            if count:
                types = self._byte()
                for _ in range(count):
                    self._skip(types >> 4)
                    self._skip(types & 0x0F)
        elif kind == _STRUCT:
            for _, inner in self._fields():
                self._skip(inner)
        else:
            raise FooterError(f"unknown Thrift type {kind}")
        if self.at > len(self.data):
            raise FooterError("the footer ends early")


class _Fields:
    """The (field id, wire type) headers of one struct, up to its stop byte; the caller reads or
    skips each field's value before asking for the next."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.last = 0

    def __iter__(self) -> _Fields:
        return self

    def __next__(self) -> tuple[int, int]:
        header = self.reader._byte()
        kind = header & 0x0F
        if kind == _STOP:
            raise StopIteration
        delta = header >> 4
        self.last = self.last + delta if delta else self.reader._int()
        return self.last, kind
