"""A file sent whole or by byte range (RFC 9110 § 14): cloud-optimised files (PMTiles,
GeoParquet) are read by clients with `Range: bytes=a-b` requests, without downloading them.

One range per request (what those readers send); a request for several ranges gets the whole
file, as the RFC allows. A range past the end answers 416 with the file's size.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.http import FileResponse, HttpResponse
from django.utils.http import http_date, quote_etag

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(first, last) byte asked for; None: send the whole file; False: unsatisfiable."""
    found = _SINGLE.match(header.replace(" ", ""))
    if not found:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    first = int(first)
    last = min(int(last), size - 1) if last else size - 1
    if first >= size:
        return False
    if last < first:
        return None
    return first, last


class _Window:
    """A file object reading only bytes first..last of a file (FileResponse streams it)."""

    def __init__(self, f, first: int, last: int):
        self.f = f
        self.left = last - first + 1
        f.seek(first)

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.f.read(size)
        self.left -= len(data)
        return data

    def close(self):
        self.f.close()


def file_response(request, path: Path, filename: str, content_type: str, attachment=True):
    """The file at `path`, whole (200) or the asked range (206); `Accept-Ranges: bytes`, an
    ETag and Last-Modified so that a reader can check the file did not change between two
    ranges (`If-Range`)."""
    stat = path.stat()
    etag = quote_etag(f"{stat.st_mtime_ns:x}-{stat.st_size:x}")
    header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range")
    wanted = _range(header, stat.st_size) if header else None
    if if_range and if_range != etag:
        wanted = None  # the file changed: the whole of it
    if wanted is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{stat.st_size}"
    elif wanted is None:
        response = FileResponse(
            path.open("rb"), as_attachment=attachment, filename=filename, content_type=content_type
        )
    else:
        first, last = wanted
        response = FileResponse(
            _Window(path.open("rb"), first, last),
            as_attachment=attachment,
            filename=filename,
            content_type=content_type,
            status=206,
        )
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{stat.st_size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(stat.st_mtime)
    return response
