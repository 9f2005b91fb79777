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
        "  fraud-mlops generate --rows 5000 --drift 0.5 --out later.csv  # a later period\n"
        "  fraud-mlops generate --rows 6000 --format export --out examples/insurer_export.csv\n"
        "      # the same claims as an insurer's spreadsheet export (schema: insurer_export)",
    )
    gen.add_argument("--rows", type=positive_int, required=True, help="number of claims")
    gen.add_argument("--seed", type=non_negative_int, default=42, help="random seed (default 42)")
    gen.add_argument(
        "--drift",
        type=fraction,
        default=0.0,
        help="0 = reference period, 1 = a later, strongly shifted period (default 0)",
    )
    gen.add_argument(
        "--format",
        choices=("claims", "export"),
        default="claims",
        help="claims: typed columns of the `synthetic` schema (default); export: an insurer's "
        "spreadsheet export (';', decimal commas, day-first dates, '?', Y/N) read by the "
        "`insurer_export` schema; needs --out FILE.csv",
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
        "  fraud-mlops ingest --input export.csv --schema my.yaml --delimiter ';' --decimal ,\n"
        "bundled schemas: synthetic, fraud_oracle, insurer_export (copy one as a starting point)"
        "\nrefused before anything is written: fewer than 500 claims, one class only, or a\n"
        "time-ordered split with fewer than 5 frauds (or non-frauds) in train, validation or "
        "test.\nEvery schema option: docs/bring-your-own-data.md",
    )
    ing.add_argument("--input", required=True, metavar="URI", help=".csv/.csv.gz/.parquet file")
    ing.add_argument(
        "--schema", required=True, metavar="FILE", help="schema YAML or a bundled name"
    )
    dialect = ing.add_argument_group(
        "CSV dialect (overrides the schema's `csv:` section; Parquet ignores it)"
    )
    dialect.add_argument("--delimiter", help="field separator, e.g. ';', '|' or tab")
    dialect.add_argument(
        "--encoding", help="e.g. latin-1 or cp1252 (utf-8 by default; a UTF-8 BOM is skipped)"
    )
    dialect.add_argument(
        "--decimal", choices=(".", ","), metavar="MARK", help="decimal mark of numbers: . or ,"
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

    if args.format == "export" and not (args.out or "").lower().endswith(".csv"):
        raise ConfigError(
            "--format export writes one local .csv file: pass --out FILE.csv, e.g. "
            "--out examples/insurer_export.csv"
        )
    with step(f"generating {args.rows:,} claims (seed {args.seed}, drift {args.drift:g})"):
        frame = generate_claims(args.rows, seed=args.seed, drift=args.drift)
    if args.format == "export":
        return _write_export(frame, args)
    where = _write(frame, args, "generate")
    print(f"wrote {summarize(frame, default_schema())}\n  to {where}")
    return 0


def _write_export(frame: pd.DataFrame, args: argparse.Namespace) -> int:
    from fraud_mlops.schema import default_schema
    from fraud_mlops.synthetic import insurer_export, write_insurer_export

    if "://" in args.out or args.run_id:
        raise ConfigError("--format export writes a local file: give a path, and no --run-id")
    with step(f"writing the insurer export to {args.out}"):
        size = write_insurer_export(insurer_export(frame, seed=args.seed), args.out)
    print(
        f"wrote {summarize(frame, default_schema())}\n  to {args.out} ({size / 1e6:.1f} MB) as "
        f"an insurer export\n  next: fraud-mlops ingest --input {args.out} --schema insurer_export"
    )
    return 0


def _dialect(args: argparse.Namespace, schema: ClaimsSchema):
    """The schema's CSV dialect with the command line's overrides, validated."""
    from pydantic import ValidationError

    from fraud_mlops.schema import CsvDialect

    given = {k: getattr(args, k) for k in ("delimiter", "encoding", "decimal")}
    given = {k: v for k, v in given.items() if v is not None}
    try:
        return CsvDialect.model_validate({**schema.csv.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = f"--{first['loc'][0]}" if first["loc"] else "--delimiter/--decimal"
        raise ConfigError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def _ingest(args: argparse.Namespace) -> int:
    from fraud_mlops.ingest import extra_columns, read_table, validate_claims
    from fraud_mlops.readiness import check_trainable
    from fraud_mlops.schema import load_schema

    schema = load_schema(args.schema)
    dialect = _dialect(args, schema)
    with step(f"reading {args.input}"):
        raw = read_table(args.input, dialect)
    with step(f"validating {len(raw):,} rows against schema {schema.name!r}"):
        frame = validate_claims(raw, schema.model_copy(update={"csv": dialect}), args.input)
        warnings = check_trainable(frame, schema, args.input)
    extra = extra_columns(raw, schema)
    if extra:
        say(f"note: {len(extra)} column(s) not in the schema were left out: {', '.join(extra)}")
    for warning in warnings:
        say(f"warning: {warning}")
    where = _write(frame, args, "ingest")
    print(f"ingested {summarize(frame, schema)}\n  to {where}")
    return 0
