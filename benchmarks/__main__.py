"""Run the benchmarks, print a markdown table and write it to docs/benchmarks.md."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import MODULES, Row

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = float("nan")
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def render(rows: list[Row]) -> str:
    lines = [
        "| area | benchmark | value | target | verdict | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.area} | {r.name} | {r.value} | {r.target} | {r.verdict} | {r.note} |" for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    wanted = argv or list(MODULES)
    unknown = [w for w in wanted if w not in MODULES]
    if unknown:
        print(f"unknown benchmark area(s): {', '.join(unknown)}; known: {', '.join(MODULES)}")
        return 2
    rows: list[Row] = []
    for name in wanted:
        start = time.perf_counter()
        print(f"running {name} benchmarks…", file=sys.stderr, flush=True)
        rows += importlib.import_module(f"benchmarks.{name}").run()
        print(f"  {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    table = render(rows)
    print(table)
    if argv:  # a subset: docs/benchmarks.md keeps the last complete table
        print(f"\n(only {', '.join(wanted)}: {OUT.name} not rewritten)", file=sys.stderr)
        return _exit_code(rows)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    OUT.write_text(
        "# Benchmarks\n\n"
        f"Written by `make bench` on {stamp}.\n\nMachine: {machine()}.\n\n{table}\n",
        encoding="utf-8",
    )
    print(
        f"\nwritten to {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}",
        file=sys.stderr,
    )
    return _exit_code(rows)


def _exit_code(rows: list[Row]) -> int:
    """Non-zero for a missed target only with BENCH_STRICT=1: benchmarks inform by default."""
    return 1 if any(r.verdict == "MISSED" for r in rows) and os.environ.get("BENCH_STRICT") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
