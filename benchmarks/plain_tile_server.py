"""The tiles benchmark's plain anchor served over HTTP: a bare WSGI application (no Django)
answering `GET /tiles/<vintage>/<z>/<x>/<y>.pbf` with the plain `ST_AsMVT` statement
(`tiles.PLAIN`), gzipped as our endpoint gzips — what a minimal tile server (pg_tileserv,
Martin) costs on the same gunicorn, so that the benchmark tells what HTTP itself adds from
what our application adds. Run by the benchmark: `gunicorn benchmarks.plain_tile_server:app`
with PLAIN_TILES_DSN in the environment."""

import os

import psycopg
from isal import igzip

from .tiles import PLAIN

_connection = None


def app(environ, start_response):
    global _connection
    if _connection is None:  # one per worker, kept (as Django's persistent connections)
        _connection = psycopg.connect(os.environ["PLAIN_TILES_DSN"], autocommit=True)
    try:
        _, _, vintage, z, x, y = environ["PATH_INFO"].removesuffix(".pbf").split("/")
        params = {"vintage": int(vintage), "z": int(z), "x": int(x), "y": int(y)}
    except ValueError:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    data = bytes(_connection.cursor(binary=True).execute(PLAIN, params).fetchone()[0] or b"")
    if not data:
        start_response("204 No Content", [])
        return [b""]
    headers = [("Content-Type", "application/vnd.mapbox-vector-tile")]
    if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
        data = igzip.compress(data, compresslevel=2, mtime=0)
        headers.append(("Content-Encoding", "gzip"))
    start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
    return [data]
