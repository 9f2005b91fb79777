"""Foundation rows: generating claims, and the lakehouse against plain pyarrow (the floor)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import Row, verdict
from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse
from fraud_mlops.synthetic import generate_claims

ROWS = 1_000_000
REPEATS = 3


def _best(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> list[Row]:
    gen_times = []
    for seed in range(REPEATS):
        start = time.perf_counter()
        frame = generate_claims(ROWS, seed=seed)
        gen_times.append(time.perf_counter() - start)
    gen = statistics.median(gen_times)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with tempfile.TemporaryDirectory() as tmp:
        floor_path = Path(tmp) / "floor.parquet"
        floor_write = _best(lambda: pq.write_table(table, floor_path, compression="zstd"))
        size_mb = floor_path.stat().st_size / 1e6
        floor_read = _best(lambda: pq.read_table(floor_path))
        lake = Lakehouse(str(Path(tmp) / "lake"))
        lake_write = _best(lambda: lake.write(RAW_CLAIMS, "bench", table))
        lake_read = _best(lambda: lake.read(RAW_CLAIMS, "bench"))
    rows_per_s = ROWS / gen
    write_ratio, read_ratio = lake_write / floor_write, lake_read / floor_read
    return [
        Row(
            "foundation",
            f"generate {ROWS:,} claims",
            f"{rows_per_s:,.0f} rows/s ({gen:.2f} s)",
            "≤ 10 s",
            verdict(gen <= 10),
        ),
        Row(
            "foundation",
            "lakehouse write (local, zstd)",
            f"{size_mb / lake_write:,.0f} MB/s",
            "≤ 1.2× pyarrow",
            verdict(write_ratio <= 1.2),
            f"pyarrow direct {size_mb / floor_write:,.0f} MB/s; ratio {write_ratio:.2f}×; "
            f"{size_mb:.0f} MB file",
        ),
        Row(
            "foundation",
            "lakehouse read (local)",
            f"{size_mb / lake_read:,.0f} MB/s",
            "≤ 1.2× pyarrow",
            verdict(read_ratio <= 1.2),
            f"pyarrow direct {size_mb / floor_read:,.0f} MB/s; ratio {read_ratio:.2f}×",
        ),
    ]
