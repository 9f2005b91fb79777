"""Data commands: ``generate`` synthetic claims and ``ingest`` your own."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from fraud_mlops.cli._args import default_run_id, fraction, non_negative_int, positive_int
from fraud_mlops.errors import ConfigError
from fraud_mlops.progress import say, step

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.schema import ClaimsSchema


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    gen = sub.add_parser(
        "generate",
        help="make seeded synthetic claims with known fraud mechanisms",
        formatter_class=fmt,
        description="Generate synthetic insurance claims (see fraud_mlops.synthetic for the five "
        "fraud mechanisms)\nand write them to the lakehouse, or to one .parquet/.csv file.",
        epilog="examples:\n"
        "  fraud-mlops generate --rows 20000\n"
        "  fraud-mlops generate --rows 1_000_000 --out s3://my-bucket/claims.parquet\n"
        "  fraud-mlops generate --rows 5000 --drift 0.5 --out later.csv  # a later period",
    )
    gen.add_argument("--rows", type=positive_int, required=True, help="number of claims")
    gen.add_argument("--seed", type=non_negative_int, default=42, help="random seed (default 42)")
    gen.add_argument(
        "--drift",
        type=fraction,
        default=0.0,
        help="0 = reference period, 1 = a later, strongly shifted period (default 0)",
    )
    _add_output_args(gen, "generate")
    gen.set_defaults(func=_generate)

    ing = sub.add_parser(
        "ingest",
        help="validate your CSV/Parquet claims against a schema and load them",
        formatter_class=fmt,
        description="Read a CSV or Parquet file (local path, s3:// or abfss://), check it "
        "against a schema file\nand write the typed claims to the lakehouse. Every problem is "
        "reported at once and nothing\nis written unless the whole file is valid.",
        epilog="examples:\n"
        "  fraud-mlops ingest --input ../shared/datasets/fraud_oracle.csv --schema fraud_oracle\n"
        "  fraud-mlops ingest --input s3://raw/claims.parquet --schema schemas/claims.yaml\n"
        "bundled schemas: synthetic, fraud_oracle (copy one as a starting point)",
    )
    ing.add_argument("--input", required=True, metavar="URI", help=".csv/.csv.gz/.parquet file")
    ing.add_argument(
        "--schema", required=True, metavar="FILE", help="schema YAML or a bundled name"
    )
    _add_output_args(ing, "ingest")
    ing.set_defaults(func=_ingest)


def _add_output_args(parser: argparse.ArgumentParser, prefix: str) -> None:
    parser.add_argument(
        "--out",
        metavar="URI",
        help="write one .parquet or .csv file here instead of the lakehouse partition",
    )
    parser.add_argument(
        "--run-id",
        default=None,
        help=f"lakehouse partition to (re)write (default {prefix}-<UTC timestamp>)",
    )


def _write(frame: pd.DataFrame, args: argparse.Namespace, prefix: str) -> str:
    import pyarrow as pa

    from fraud_mlops.lakehouse import RAW_CLAIMS, Lakehouse, write_file_atomic
    from fraud_mlops.settings import Settings

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if args.out:
        lower = args.out.lower()
        if not lower.endswith((".parquet", ".csv")):
            raise ConfigError(
                f"--out {args.out!r}: name a .parquet or .csv file, or leave --out out to write "
                "to the lakehouse (LAKEHOUSE_URI)."
            )
        if args.run_id:
            raise ConfigError("--run-id names a lakehouse partition; it has no effect with --out")
        with step(f"writing {len(frame):,} claims to {args.out}"):
            size = write_file_atomic(
                args.out, table, "csv" if lower.endswith(".csv") else "parquet"
            )
        return f"{args.out} ({size / 1e6:.1f} MB)"
    settings = Settings.from_env()
    run_id = Lakehouse.check_run_id(args.run_id or default_run_id(prefix))
    lake = Lakehouse(settings.lakehouse_uri)
    with step(f"writing {len(frame):,} claims to the lakehouse at {lake.uri}"):
        result = lake.write(RAW_CLAIMS, run_id, table)
    return f"{result.uri} ({result.bytes / 1e6:.1f} MB, run id {run_id})"


def summarize(frame: pd.DataFrame, schema: ClaimsSchema) -> str:
    from fraud_mlops.ingest import event_time_column

    times = frame[event_time_column(schema)]
    label = frame[schema.label_column]
    return (
        f"{len(frame):,} claims, {int(label.sum()):,} labelled fraud ({label.mean():.2%}), "
        f"{times.min():%Y-%m-%d} to {times.max():%Y-%m-%d}"
    )


def _generate(args: argparse.Namespace) -> int:
    from fraud_mlops.schema import default_schema
    from fraud_mlops.synthetic import generate_claims

    with step(f"generating {args.rows:,} claims (seed {args.seed}, drift {args.drift:g})"):
        frame = generate_claims(args.rows, seed=args.seed, drift=args.drift)
    where = _write(frame, args, "generate")
    print(f"wrote {summarize(frame, default_schema())}\n  to {where}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from fraud_mlops.ingest import extra_columns, read_table, validate_claims
    from fraud_mlops.schema import load_schema

    schema = load_schema(args.schema)
    with step(f"reading {args.input}"):
        raw = read_table(args.input)
    with step(f"validating {len(raw):,} rows against schema {schema.name!r}"):
        frame = validate_claims(raw, schema, source=args.input)
    extra = extra_columns(raw, schema)
    if extra:
        say(f"note: {len(extra)} column(s) not in the schema were left out: {', '.join(extra)}")
    where = _write(frame, args, "ingest")
    print(f"ingested {summarize(frame, schema)}\n  to {where}")
    return 0
