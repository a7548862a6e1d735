"""PostgreSQL binary COPY rows encoded a batch at a time with array operations.

psycopg's `write_row` encodes one value at a time (about 6 µs a polygon row here); an import
sends a million rows. Here the columns of a batch are laid out with numpy: each column is
a `Stream` of per-row byte segments (fixed-width numbers in network byte order, UTF-8 text,
EWKB), and Arrow joins the fields of each row, all rows at once.
Only `SIGNATURE`, the rows and `TRAILER` need sending (`Copy.write`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .lazy import lazy_module

pc = lazy_module("pyarrow.compute")

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"


@dataclass
class Stream:
    """Row i's bytes are data[starts[i]:starts[i + 1]]."""

    data: np.ndarray  # uint8
    starts: np.ndarray  # int64, n + 1 entries

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    @classmethod
    def fixed(cls, values, dtype: str, null: np.ndarray | None = None) -> Stream:
        """Numbers in network byte order (`dtype` like '>i8'); no bytes where `null`."""
        arr = np.ascontiguousarray(values, dtype=dtype)
        width = arr.dtype.itemsize
        if null is None:
            return cls(arr.view(np.uint8), np.arange(len(arr) + 1, dtype=np.int64) * width)
        starts = np.zeros(len(arr) + 1, dtype=np.int64)
        np.cumsum(np.where(null, 0, width), out=starts[1:])
        return cls(np.ascontiguousarray(arr[~null]).view(np.uint8), starts)

    @classmethod
    def text(cls, column) -> Stream:
        """UTF-8 text of an Arrow column (any type cast to string; null as '')."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        arr = pc.fill_null(pc.cast(column, pa.string()), "")
        n = len(arr)
        _validity, offsets, data = arr.buffers()
        starts = np.frombuffer(offsets, dtype=np.int32)[arr.offset : arr.offset + n + 1]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        return cls(data, starts.astype(np.int64))

    @classmethod
    def of_items(cls, items) -> Stream:
        """From a sequence of bytes-like objects."""
        lengths = np.fromiter((len(v) for v in items), dtype=np.int64, count=len(items))
        starts = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        return cls(np.frombuffer(b"".join(items), dtype=np.uint8), starts)

    def segments(self) -> list[memoryview]:
        """One view per row."""
        view = memoryview(self.data)
        s = self.starts.tolist()
        return [view[a:b] for a, b in zip(s[:-1], s[1:], strict=True)]

    def with_length(self, null: np.ndarray | None = None) -> list[Stream]:
        """The field as COPY sends it: a 4-byte length (-1 for NULL), then the bytes."""
        lengths = self.lengths
        if null is not None:
            lengths = np.where(null, -1, lengths)
        return [Stream.fixed(lengths, ">i4"), self]


@dataclass
class Slices:
    """Row i's bytes are data[starts[i] + skip:starts[i + 1]]: each item of a Stream less its
    first `skip` bytes (a header replaced by another field)."""

    data: np.ndarray  # uint8
    starts: np.ndarray  # int64, n + 1 entries
    skip: int

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts) - self.skip


def _arrow(field: Stream | Slices) -> pa.LargeBinaryArray:
    """A field's rows as an Arrow array over the same memory (no copy; a copy less the
    skipped bytes for `Slices`)."""
    starts = np.ascontiguousarray(field.starts, dtype=np.int64)
    array = pa.Array.from_buffers(
        pa.large_binary(),
        len(starts) - 1,
        [None, pa.py_buffer(starts), pa.py_buffer(np.ascontiguousarray(field.data))],
    )
    if isinstance(field, Slices) and field.skip and len(array):
        array = pc.binary_slice(array, field.skip, int(np.diff(starts).max()))
    return array


def rows(fields: list[Stream | Slices]) -> memoryview:
    """COPY rows: for each row, its bytes in every field, in order (the fields' length
    streams included, see `Stream.with_length`). Arrow's element-wise join lays them out,
    one copy of each byte, outside the GIL (a Python loop over rows held it: the import's
    worker threads waited on each other)."""
    joined = pc.binary_join_element_wise(*map(_arrow, fields), pa.scalar(b"", pa.large_binary()))
    _validity, offsets, data = joined.buffers()
    end = int(np.frombuffer(offsets, dtype=np.int64)[joined.offset + len(joined)])
    return memoryview(data)[:end]


def field_count(n_rows: int, n_fields: int) -> Stream:
    return Stream.fixed(np.full(n_rows, n_fields), ">i2")
