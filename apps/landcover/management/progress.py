"""A progress bar for long commands, shown only on a terminal."""

import sys
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress_bar(unit: str = " polygones"):
    """Yield a `progress(done, total)` callback drawing a tqdm bar on stderr (if a tty)."""
    bar = tqdm(total=0, unit=unit, disable=not sys.stderr.isatty(), file=sys.stderr)

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()
