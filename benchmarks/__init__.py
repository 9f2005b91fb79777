"""Benchmarks behind ``make bench``. Each module in MODULES defines ``run() -> list[Row]``.

Run all: ``python -m benchmarks``; only some: ``python -m benchmarks foundation training``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Areas in the order the table lists them; each is a module of this package.
MODULES = ("foundation", "model_core", "training", "api", "monitoring")


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
    """Replace the ``<!-- bench:AREA -->`` … ``<!-- /bench:AREA -->`` section of ``doc``."""
    start, end = f"<!-- bench:{area} -->", f"<!-- /bench:{area} -->"
    text = doc.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join(
        ["| benchmark | value | target | verdict | note |", "|---|---|---|---|---|"]
        + [f"| {r.name} | {r.value} | {r.target} | {r.verdict} | {r.note} |" for r in rows]
    )
    body = f"{start}\nWritten by `python -m benchmarks {area}` on {stamp}.\n\n{table}\n{end}"
    head, rest = text.split(start, 1)
    doc.write_text(head + body + rest.split(end, 1)[1], encoding="utf-8")
