"""The ``fraud-mlops`` command line. Each submodule registers a group of commands.

User mistakes raise :class:`~fraud_mlops.errors.FraudMlopsError`; they are printed as one
readable message and the command exits with status 2. Nothing here imports torch or pandas at
import time, so ``fraud-mlops --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from fraud_mlops import __version__
from fraud_mlops.errors import FraudMlopsError

# Command groups, in the order --help lists them. Each module defines register(subparsers).
COMMAND_MODULES = (
    "data",
    "model",
    "serve",
    "evidence",
    "warehouse",
    "platform",
    "cloud",
    "release",
)

DESCRIPTION = """\
Insurance-claims fraud detection: data, training, scoring and the platform around them.

Locations come from the environment (embedded defaults under ./.local):
  LAKEHOUSE_URI     Parquet datasets: a folder, s3://bucket/prefix or abfss://…
  MODEL_STORE_URI   versioned model artifacts and the champion pointer
"""

EPILOG = """\
examples:
  fraud-mlops generate --rows 20000                 # synthetic claims into the lakehouse
  fraud-mlops ingest --input claims.csv --schema my_schema.yaml
  fraud-mlops models                                # model versions, the champion marked
  fraud-mlops serve                                 # the champion behind the API on :8000
  fraud-mlops scores --from 2026-12-01 --summary    # captured scores: counts, flag rate
  fraud-mlops outcomes ingest --input cases.csv     # investigators' outcomes into outcomes/
  fraud-mlops warehouse query "SELECT * FROM RUN_OVERVIEW"
  fraud-mlops flow trigger --stack dev --wait       # train on Step Functions + Batch
  fraud-mlops <command> --help                      # every command explains its options
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraud-mlops",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"fraud_mlops.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FraudMlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`fraud-mlops models | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
