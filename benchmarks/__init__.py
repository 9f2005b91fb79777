"""Benchmarks behind ``make bench``. Each module in MODULES defines ``run() -> list[Row]``.

Run all: ``python -m benchmarks``; only some: ``python -m benchmarks foundation training``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Areas in the order the table lists them; each is a module of this package.
MODULES = ("foundation", "model_core", "training", "api")


@dataclass(frozen=True)
class Row:
    area: str
    name: str
    value: str
    target: str = ""
    verdict: str = ""  # "met", "missed" or "" when there is no target
    note: str = ""


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def write_section(doc: Path, area: str, rows: list[Row]) -> None:
    """Replace the ``<!-- bench:AREA -->`` … ``<!-- /bench:AREA -->`` section with a table."""
    table = "\n".join(
        ["| benchmark | value | target | verdict | note |", "|---|---|---|---|---|"]
        + [f"| {r.name} | {r.value} | {r.target} | {r.verdict} | {r.note} |" for r in rows]
    )
    replace_section(doc, area, table)


def replace_section(doc: Path, area: str, content: str) -> None:
    """Put ``content`` (with a line saying which run wrote it) between the section markers.

    A doc without the markers is left alone, so a renamed section never loses text.
    """
    start, end = f"<!-- bench:{area} -->", f"<!-- /bench:{area} -->"
    text = doc.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    area_name = area.split(":", 1)[0]
    body = f"{start}\nWritten by `python -m benchmarks {area_name}` on {stamp}.\n\n{content}\n{end}"
    head, rest = text.split(start, 1)
    doc.write_text(head + body + rest.split(end, 1)[1], encoding="utf-8")
