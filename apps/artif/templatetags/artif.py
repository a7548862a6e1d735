from django import template

from apps.artif.impact import format_delta

register = template.Library()


@register.filter
def artif_delta(delta_m2):
    """m² → « +0,42 ha artificialisés »."""
    return format_delta(delta_m2)


@register.filter
def ha(value_m2_or_ha, digits=2):
    """Hectares with a French decimal comma; an em dash for None."""
    from django.utils.formats import number_format

    if value_m2_or_ha is None:
        return "—"
    return number_format(value_m2_or_ha, digits, use_l10n=True, force_grouping=True)


@register.filter
def ha_m2(value_m2, digits=2):
    """m² shown in hectares; an em dash for None."""
    return ha(None if value_m2 is None else value_m2 / 10_000, digits)
