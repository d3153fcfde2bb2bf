"""Dates as a Thai officer reads them: Buddhist era, Thai month abbreviations, Thai time.

"2 ธ.ค. 2569 10:15" — the way Thai government letters and forms write a date. The review
database stores UTC (kb.review); people see Thailand time.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

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
