"""Benchmarks behind ``make bench``. Each module in MODULES defines ``run() -> list[Row]``.

Run all: ``python -m benchmarks``; only some: ``python -m benchmarks foundation training``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def synthetic_artifact(
    out: Path,
    *,
    model_name: str,
    version: str,
    hidden: tuple[int, ...],
    metrics: dict[str, Any] | None = None,
    with_reference: bool = False,
) -> tuple[Path, Any]:
    """An MLP artifact with random weights, fitted on 20,000 synthetic claims (seed 1): what
    the api and monitoring benchmarks score with. Returns its folder and the claims."""
    from fraud_mlops.artifact import build_architecture, export_artifact, random_weights
    from fraud_mlops.drift import build_reference
    from fraud_mlops.preprocessing import fit_preprocessing
    from fraud_mlops.schema import default_schema
    from fraud_mlops.synthetic import generate_claims

    schema = default_schema()
    claims = generate_claims(20_000, seed=1)
    pre = fit_preprocessing(claims, schema)
    arch = build_architecture(pre, hidden=hidden)
    path = export_artifact(
        out,
        model_name=model_name,
        version=version,
        schema=schema,
        preprocessor=pre,
        architecture=arch,
        weights=random_weights(arch, seed=0),
        threshold=0.5,
        metrics=metrics or {},
        data_fingerprint="0" * 64,
        code_version="bench",
        reference=build_reference(claims, schema) if with_reference else None,
    )
    return path, claims
