"""Dates and numbers written as a French reader expects them (« 1er octobre 2027 »,
« 28 434 »), in English when English is the active language."""

from __future__ import annotations

import datetime

from django.utils import formats
from django.utils.translation import get_language


def long_date(day: datetime.date) -> str:
    """« 1er octobre 2027 », « 14 mars 2027 »; « October 1, 2027 » in English."""
    text = formats.date_format(day, "j F Y")
    if (get_language() or "fr").startswith("fr") and day.day == 1:
        text = "1er" + text[1:]
    return text
