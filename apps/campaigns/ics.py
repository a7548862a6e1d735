"""A minimal iCalendar (RFC 5545) event for meeting invitations."""

import datetime


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 §3.1)."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 75:
            out.append(current)
            current = " " + char
        else:
            current += char
    out.append(current)
    return "\r\n".join(out)


def event(
    *,
    uid: str,
    start: datetime.datetime,
    minutes: int,
    summary: str,
    location: str = "",
    sequence: int = 0,
    now: datetime.datetime | None = None,
) -> str:
    utc = datetime.UTC
    fmt = "%Y%m%dT%H%M%SZ"
    stamp = (now or datetime.datetime.now(utc)).astimezone(utc)
    begin = start.astimezone(utc)
    end = begin + datetime.timedelta(minutes=minutes)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//OCS GE//Revue collaborative//FR",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"SEQUENCE:{max(sequence, 0)}",
        f"DTSTAMP:{stamp.strftime(fmt)}",
        f"DTSTART:{begin.strftime(fmt)}",
        f"DTEND:{end.strftime(fmt)}",
        f"SUMMARY:{_escape(summary)}",
    ]
    if location:
        lines.append(f"LOCATION:{_escape(location)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
