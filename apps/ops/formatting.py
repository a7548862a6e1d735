"""Dates and numbers written as a French reader expects them (« 1er octobre 2027 »,
« 28 434 »), in English when English is the active language."""

from __future__ import annotations

import datetime

from django.utils.translation import get_language


def french_date(value, format_string: str = "j F Y") -> str:
    """Django's `date` formatting, with « 1er » for the first of a month in French
    (« 1er octobre 2027 », « mardi 1er juin 2027 »); as is in English."""
    from django.template.defaultfilters import date as date_filter

    text = date_filter(value, format_string)
    if not text or not isinstance(value, datetime.date):
        return text
    if (get_language() or "fr").startswith("fr") and value.day == 1:
        weekday = date_filter(value, "l")
        text = text.replace(f"{weekday} 1 ", f"{weekday} 1er ")
        if text.startswith("1 "):
            text = "1er " + text[2:]
    return text


def long_date(day: datetime.date) -> str:
    """« 1er octobre 2027 », « 14 mars 2027 »."""
    return french_date(day, "j F Y")
