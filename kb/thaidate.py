"""Dates as a Thai officer reads them: Buddhist era, Thai month abbreviations, Thai time.

"2 ธ.ค. 2569 10:15" — the way Thai government letters and forms write a date. The review
database stores UTC (kb.review); people see Thailand time.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

# Thailand keeps UTC+7 all year (no daylight saving), so a fixed offset is exact and needs no
# time-zone database. Not the server's own zone: servers often run in UTC, and every user of
# this app is in Thailand, so the times they see match their clocks wherever it is hosted.
THAI_TZ = timezone(timedelta(hours=7), "ICT")
BUDDHIST_ERA_OFFSET = 543
MONTHS_TH = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.",
             "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")


def thai_datetime(value: str | datetime | None, tz: timezone = THAI_TZ) -> str:
    """An ISO timestamp or a datetime as "2 ธ.ค. 2569 10:15" in `tz`; "—" when there is none.
    A naive value is taken as UTC (what kb.review stores); text that is not an ISO timestamp
    comes back unchanged, so a page never fails over a date."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    local = value.astimezone(tz)
    return (f"{local.day} {MONTHS_TH[local.month - 1]} {local.year + BUDDHIST_ERA_OFFSET} "
            f"{local:%H:%M}")


def today(tz: timezone = THAI_TZ) -> date:
    """Today's date in Thailand: a due date is "past" by the officer's calendar, not UTC's."""
    return datetime.now(tz).date()


def thai_date(value: date | str | None) -> str:
    """A calendar day as "15 มี.ค. 2568"; "—" when there is none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()[:10])
        except ValueError:
            return value
    return f"{value.day} {MONTHS_TH[value.month - 1]} {value.year + BUDDHIST_ERA_OFFSET}"


_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_THAI = re.compile(r"^(\d{1,2})\s+(\S+)\s+(\d{4})$")


def parse_date(text: str) -> date:
    """A day typed by a person or sent by a date picker: "2568-03-15", "2025-03-15" (a date
    picker's value), "15/03/2568" or "15 มี.ค. 2568". A year above 2400 is พ.ศ. (no form of
    this app deals with Christian-era years that late), anything else ค.ศ.
    ValueError (in Thai) when it is none of these or not a real day."""
    t = " ".join(str(text).split())
    m = _YMD.match(t)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    elif (m := _DMY.match(t)):
        d, mo, y = (int(g) for g in m.groups())
    elif (m := _THAI.match(t)) and m.group(2) in MONTHS_TH:
        d, mo, y = int(m.group(1)), MONTHS_TH.index(m.group(2)) + 1, int(m.group(3))
    else:
        raise ValueError(f"อ่านวันที่ “{text}” ไม่ได้: ใช้รูปแบบ 2568-03-15 หรือ 15 มี.ค. 2568")
    if y > 2400:
        y -= BUDDHIST_ERA_OFFSET
    try:
        return date(y, mo, d)
    except ValueError:
        raise ValueError(f"วันที่ “{text}” ไม่มีอยู่จริง") from None
