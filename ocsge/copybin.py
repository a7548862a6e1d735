"""PostgreSQL binary COPY rows encoded a batch at a time with array operations.

psycopg's `write_row` encodes one value at a time (about 6 µs a polygon row here); an import
sends a million rows. Here the columns of a batch are laid out with numpy: each column is
a `Stream` of per-row byte segments (fixed-width numbers in network byte order, UTF-8 text,
EWKB), the small columns are interleaved into one "head" segment per row with a single
gather, and the rows are joined with their large geometry segments by one `bytes.join`.
Only `SIGNATURE`, the rows and `TRAILER` need sending (`Copy.write`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    """Row i's bytes are data[begins[i]:ends[i]]: a part of each item of a Stream, sent
    without copying (a `rows` tail field)."""

    data: np.ndarray  # uint8
    begins: np.ndarray  # int64
    ends: np.ndarray  # int64

    @property
    def lengths(self) -> np.ndarray:
        return self.ends - self.begins

    def segments(self) -> list[memoryview]:
        view = memoryview(self.data)
        return [view[a:b] for a, b in zip(self.begins.tolist(), self.ends.tolist(), strict=True)]


def interleave(streams: list[Stream]) -> Stream:
    """Row i of the result is row i of each stream, in order (one gather)."""
    n = len(streams[0].starts) - 1
    k = len(streams)
    offsets = np.cumsum([0] + [len(s.data) for s in streams[:-1]])
    source = np.concatenate([s.data for s in streams])
    src = np.stack([s.starts[:-1] + o for s, o in zip(streams, offsets, strict=True)], axis=1)
    lengths = np.stack([s.lengths for s in streams], axis=1)  # (n, k), row-major = output order
    flat_len = lengths.ravel()
    dest = np.zeros(n * k + 1, dtype=np.int64)
    np.cumsum(flat_len, out=dest[1:])
    index = np.repeat(src.ravel() - dest[:-1], flat_len) + np.arange(dest[-1])
    row_starts = dest[::k]
    return Stream(source[index], row_starts)


def rows(head: list[Stream], tail: list[Stream]) -> bytes:
    """COPY rows: the fields of `head` (small: interleaved with one gather) followed by
    those of `tail` (large: not copied but joined). Each list holds the streams of its
    fields, length streams included (see `Stream.with_length`)."""
    heads = interleave(head)
    parts = [s.segments() for s in (heads, *tail)]
    joined = [None] * (len(parts) * len(parts[0]))
    for i, p in enumerate(parts):
        joined[i :: len(parts)] = p
    return b"".join(joined)


def field_count(n_rows: int, n_fields: int) -> Stream:
    return Stream.fixed(np.full(n_rows, n_fields), ">i2")
