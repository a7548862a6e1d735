"""`frdate`: Django's `date` filter, written as a French reader expects — « 1er octobre »
for the first of a month, months abbreviated without ambiguity (« juin », « juil. » with
the format letter N)."""

import datetime

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils.translation import get_language

register = template.Library()


@register.filter
def frdate(value, format_string="j F Y"):
    text = date_filter(value, format_string)
    if not text or not isinstance(value, datetime.date):
        return text
    if (get_language() or "fr").startswith("fr") and value.day == 1:
        # « 1 octobre » → « 1er octobre » (the day as its own word, wherever it stands).
        text = text.replace(f"{date_filter(value, 'l')} 1 ", f"{date_filter(value, 'l')} 1er ")
        if text.startswith("1 "):
            text = "1er " + text[2:]
    return text
