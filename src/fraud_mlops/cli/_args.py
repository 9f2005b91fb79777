"""Argument types shared by command groups: they turn bad values into clear usage errors."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def default_run_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def stack_outputs_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--stack-outputs FILE``: a saved ``pulumi stack output --json``, for offline use."""
    parser.add_argument(
        "--stack-outputs",
        metavar="FILE",
        help="saved `pulumi stack output --json` instead of calling pulumi",
    )


def add_stack_args(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    """``--stack NAME`` (whose outputs configure the command) and ``--stack-outputs FILE``."""
    parser.add_argument(
        "--stack", required=required, help="Pulumi stack whose outputs configure the command"
    )
    stack_outputs_arg(parser)
