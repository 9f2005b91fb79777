"""Benchmarks behind ``make bench``. Each module in MODULES defines ``run() -> list[Row]``.

Run all: ``python -m benchmarks``; only some: ``python -m benchmarks foundation training``.
"""

from __future__ import annotations

from dataclasses import dataclass

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
