"""`frdate`: Django's `date` filter, written as a French reader expects — « 1er octobre »
for the first of a month, months abbreviated without ambiguity (« juin », « juil. » with
the format letter N)."""

from django import template

from apps.ops.formatting import french_date

register = template.Library()


@register.filter
def frdate(value, format_string="j F Y"):
    return french_date(value, format_string)
