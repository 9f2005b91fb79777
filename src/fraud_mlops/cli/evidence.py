"""Production evidence: ``scores`` reads captured scores back, ``outcomes ingest`` records
investigators' outcomes from a case-system export."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from fraud_mlops.cli._args import positive_int
from fraud_mlops.errors import ConfigError
from fraud_mlops.progress import say

if TYPE_CHECKING:
    import pandas as pd

TABLE_DEFAULT_LIMIT = 50
TABLE_COLUMNS = ("captured_at", "model_version", "role", "claim_key", "score", "flagged")
QUANTILES = (0.5, 0.9, 0.99)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BINS = 10_000  # score histogram for --summary quantiles: exact to 1e-4, memory flat


def iso_date(text: str) -> date:
    """``YYYY-MM-DD`` only: 01/02/2026 means two different days to two readers."""
    if not _ISO_DATE.match(text.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date: write YYYY-MM-DD (e.g. 2026-12-01); forms like "
            "01/02/2026 are ambiguous"
        )
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a calendar date ({exc})") from None


def outcome_map(text: str) -> dict[str, str]:
    """``fraud=Y,legitimate=N`` (several codes: ``fraud=Y|yes``) as {code: outcome}."""
    from fraud_mlops.outcomes import OUTCOMES

    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        outcome, sep, codes = part.partition("=")
        if not sep or outcome.strip() not in OUTCOMES or not codes.strip():
            raise argparse.ArgumentTypeError(
                f"{part!r}: write OUTCOME=CODE with OUTCOME fraud or legitimate, e.g. "
                "fraud=Y,legitimate=N (several codes: fraud=Y|yes)"
            )
        for code in filter(None, (c.strip() for c in codes.split("|"))):
            if mapping.get(code, outcome.strip()) != outcome.strip():
                raise argparse.ArgumentTypeError(f"code {code!r} is mapped to both outcomes")
            mapping[code] = outcome.strip()
    if not mapping:
        raise argparse.ArgumentTypeError("the outcome map is empty: e.g. fraud=Y,legitimate=N")
    return mapping


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    scores = sub.add_parser(
        "scores",
        help="read captured production scores back from the lakehouse scores/",
        formatter_class=fmt,
        description="Read the scores the API captured (the lakehouse scores/ dataset: the "
        "local file sink or\nFirehose objects) for a window of UTC dates. Malformed lines are "
        "skipped and reported on\nstderr with their file. Claims appear as their hashed "
        "claim_key, never their id.",
        epilog="examples:\n"
        "  fraud-mlops scores --from 2026-12-01 --to 2026-12-01            # first 50 as a table\n"
        "  fraud-mlops scores --from 2026-11-01 --summary                  # counts, flag rate, "
        "quantiles\n"
        "  fraud-mlops scores --role shadow --model-version 7 --format csv > shadow.csv\n"
        "  LAKEHOUSE_URI=s3://lake/lakehouse fraud-mlops scores --from 2026-12-01 --format jsonl",
    )
    scores.add_argument(
        "--from",
        dest="start",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="first UTC date (inclusive; default: the oldest)",
    )
    scores.add_argument(
        "--to",
        dest="end",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="last UTC date (inclusive; default: the newest)",
    )
    scores.add_argument("--model-version", help="only this model version")
    scores.add_argument("--role", choices=("champion", "shadow"), help="only this role")
    scores.add_argument(
        "--limit",
        type=positive_int,
        help=f"print at most N rows (table default: {TABLE_DEFAULT_LIMIT})",
    )
    scores.add_argument(
        "--format",
        choices=("table", "csv", "jsonl"),
        default="table",
        help="rows as a table (default), CSV or JSON lines (all columns)",
    )
    scores.add_argument(
        "--summary",
        action="store_true",
        help="counts per day, model version and role; flag rate; score quantiles",
    )
    scores.add_argument(
        "--lakehouse",
        metavar="URI",
        help="lakehouse root or one .jsonl sink file (default: $LAKEHOUSE_URI)",
    )
    scores.set_defaults(func=_scores)

    outcomes = sub.add_parser(
        "outcomes",
        help="investigators' outcomes: record a case-system export",
        formatter_class=fmt,
        description="Investigators' outcomes (fraud / legitimate) land in the lakehouse "
        "outcomes/, keyed like\ncaptured scores (CAPTURE_KEY_SALT), idempotent on claim and "
        "decision time. docs/outcomes.md.",
    )
    osub = outcomes.add_subparsers(dest="outcomes_command", metavar="<command>", required=True)
    ingest = osub.add_parser(
        "ingest",
        help="record outcomes from a CSV or Parquet export",
        formatter_class=fmt,
        description="Record the outcomes of a case-system export: columns claim_id, outcome, "
        "decided_at and\noptionally reason (other columns are ignored, and listed). decided_at "
        "needs a UTC offset\n(2026-12-01T09:30:00Z). The whole file is refused if any row is "
        "wrong, with every problem;\nrows already recorded are counted, not written again.",
        epilog="examples:\n"
        "  fraud-mlops outcomes ingest --input closed_cases.csv\n"
        "  fraud-mlops outcomes ingest --input export.parquet --outcome-map "
        "fraud=Y,legitimate=N\n"
        "  fraud-mlops outcomes ingest --input s3://cases/2026-12.csv --check   # validate only",
    )
    ingest.add_argument(
        "--input",
        required=True,
        metavar="URI",
        help=".csv (.csv.gz) or .parquet file: local, s3:// or abfss://",
    )
    ingest.add_argument(
        "--outcome-map",
        type=outcome_map,
        metavar="MAP",
        help="the export's codes, e.g. fraud=Y,legitimate=N (fraud=Y|yes for "
        "several); without it the values must be fraud or legitimate",
    )
    ingest.add_argument(
        "--check", action="store_true", help="validate and count only; record nothing"
    )
    ingest.add_argument(
        "--lakehouse", metavar="URI", help="lakehouse root (default: $LAKEHOUSE_URI)"
    )
    ingest.set_defaults(func=_ingest)


def _lakehouse(args: argparse.Namespace) -> str:
    if args.lakehouse:
        return args.lakehouse
    from fraud_mlops.settings import Settings

    return Settings.from_env().lakehouse_uri


# -- scores ----------------------------------------------------------------------------------
def _scores(args: argparse.Namespace) -> int:
    from fraud_mlops.capture import ScanStats, iter_scores

    if args.summary and args.limit:
        raise ConfigError("--summary counts every selected score: drop --limit (or --summary)")
    if args.start and args.end and args.start > args.end:
        raise ConfigError(f"--from {args.start} is after --to {args.end}: swap the dates")
    uri = _lakehouse(args)
    limit = args.limit or (TABLE_DEFAULT_LIMIT if args.format == "table" else None)
    stats = ScanStats()
    batches = iter_scores(
        uri,
        start=args.start,
        end=args.end,
        model_version=args.model_version,
        role=args.role,
        stats=stats,
    )
    batches = _with_progress(batches, stats)
    if args.summary:
        summary = _Summary()
        for batch in batches:
            summary.add(batch)
        print(summary.render(args.format))
    else:
        shown = _print_rows(batches, args.format, limit)
        if args.format == "table" and limit and shown == limit and not args.limit:
            say(f"first {limit} rows shown: --limit N for more, --format csv|jsonl for all columns")
    say(stats.summary())
    if stats.selected == 0:
        say(f"no captured scores matched in {uri}/scores (window, --model-version, --role)")
    return 0


def _with_progress(batches: Any, stats: Any, every: float = 2.0) -> Any:
    """The batches, with a progress line on stderr at most every ``every`` seconds."""
    started = last = time.perf_counter()
    for batch in batches:
        yield batch
        now = time.perf_counter()
        if now - last >= every:
            last = now
            say(
                f"  … {stats.selected:,} scores selected of {stats.records:,} read "
                f"({stats.files:,} file(s), {now - started:.0f} s)"
            )


def _print_rows(batches: Any, fmt: str, limit: int | None) -> int:
    shown, header, rows = 0, None, []
    for batch in batches:
        if limit is not None:
            batch = batch.head(limit - shown)
        if fmt == "table":
            rows += _table_rows(batch)
        elif fmt == "csv":
            if header is None:
                header = list(batch.columns)
                sys.stdout.write(batch.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ"))
            else:
                extra = [c for c in batch.columns if c not in header]
                if extra:
                    say(
                        f"warning: {len(batch):,} later rows have columns the CSV header lacks "
                        f"({', '.join(extra[:5])}): they are left out; use --format jsonl or "
                        "--model-version for one version's features"
                    )
                sys.stdout.write(
                    batch.reindex(columns=header).to_csv(
                        index=False, header=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ"
                    )
                )
        else:
            _write_jsonl(batch)
        shown += len(batch)
        if limit is not None and shown >= limit:
            break
    if fmt == "table":
        from fraud_mlops.cli.model import _table

        print(_table(list(TABLE_COLUMNS), rows) if rows else "(no scores)")
    return shown


def _table_rows(batch: pd.DataFrame) -> list[list[str]]:
    return [
        [
            when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            str(version),
            role,
            key[:12] + "…",
            f"{score:.4f}",
            "yes" if flagged else "no",
        ]
        for when, version, role, key, score, flagged in zip(
            batch["captured_at"],
            batch["model_version"],
            batch["role"],
            batch["claim_key"],
            batch["score"],
            batch["flagged"],
            strict=True,
        )
    ]


def _write_jsonl(batch: pd.DataFrame) -> None:
    records = batch.to_dict(orient="records")
    out = []
    for rec in records:
        rec["captured_at"] = rec["captured_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rec["reasons"] = json.loads(rec["reasons"])
        out.append(json.dumps(rec, default=_plain, allow_nan=False, separators=(",", ":")))
    sys.stdout.write("\n".join(out) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


class _Summary:
    """Counts per (day, model version, role), flags and a score histogram: memory flat."""

    def __init__(self) -> None:
        import numpy as np

        self.groups: dict[tuple[str, str, str], list[Any]] = {}
        self.np = np

    @property
    def total(self) -> int:
        return sum(g[0] for g in self.groups.values())

    def add(self, batch: pd.DataFrame) -> None:
        np = self.np
        days = batch["captured_at"].dt.strftime("%Y-%m-%d")
        bins = np.clip((batch["score"].to_numpy() * _BINS).astype(np.int64), 0, _BINS - 1)
        keys = list(zip(days, batch["model_version"].astype(str), batch["role"], strict=True))
        frame = batch.assign(_key=keys, _bin=bins)
        for key, part in frame.groupby("_key", sort=False):
            group = self.groups.setdefault(key, [0, 0, np.zeros(_BINS, dtype=np.int64)])
            group[0] += len(part)
            group[1] += int(part["flagged"].sum())
            group[2] += np.bincount(part["_bin"].to_numpy(), minlength=_BINS)

    def _quantiles(self, hist: Any) -> list[float]:
        cum = self.np.cumsum(hist)
        total = cum[-1]
        return [
            (int(self.np.searchsorted(cum, q * total)) + 0.5) / _BINS if total else float("nan")
            for q in QUANTILES
        ]

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for (day, version, role), (n, flagged, hist) in sorted(self.groups.items()):
            p50, p90, p99 = self._quantiles(hist)
            out.append(
                {
                    "date": day,
                    "model_version": version,
                    "role": role,
                    "scores": n,
                    "flagged": flagged,
                    "flag_rate": flagged / n,
                    "score_p50": round(p50, 4),
                    "score_p90": round(p90, 4),
                    "score_p99": round(p99, 4),
                }
            )
        return out

    def render(self, fmt: str) -> str:
        rows = self.rows()
        if fmt == "jsonl":
            return "\n".join(json.dumps(r) for r in rows)
        header = list(rows[0]) if rows else ["date", "model_version", "role", "scores"]
        if fmt == "csv":
            lines = [",".join(header)] + [",".join(str(r[h]) for h in header) for r in rows]
            return "\n".join(lines)
        from fraud_mlops.cli.model import _table

        if not rows:
            return "(no scores)"
        body = [
            [
                r["date"], r["model_version"], r["role"], f"{r['scores']:,}",
                f"{r['flagged']:,}", f"{r['flag_rate']:.2%}",
                f"{r['score_p50']:.4f}", f"{r['score_p90']:.4f}", f"{r['score_p99']:.4f}",
            ]
            for r in rows
        ]  # fmt: skip
        names = ["date", "model_version", "role", "scores", "flagged", "flag_rate"]
        names += ["p50", "p90", "p99"]
        return _table(names, body) + "\n(score quantiles from a 1e-4-wide histogram)"


# -- outcomes ingest -------------------------------------------------------------------------
def _ingest(args: argparse.Namespace) -> int:
    import pandas as pd

    from fraud_mlops.ingest import read_table
    from fraud_mlops.outcome_reader import open_store
    from fraud_mlops.outcome_store import record_outcomes
    from fraud_mlops.outcomes import FIELDS, REQUIRED, ClaimKeySettings, validate_outcomes

    salt = ClaimKeySettings.from_env().salt()  # before reading: a missing salt fails fast
    uri = _lakehouse(args) if not args.check else None
    frame = read_table(args.input)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"{args.input}: no column(s) {', '.join(missing)} (columns: "
            f"{', '.join(map(str, frame.columns[:12]))}). An export needs claim_id, outcome, "
            "decided_at and optionally reason: rename its columns"
        )
    ignored = [str(c) for c in frame.columns if c not in FIELDS]
    if ignored:
        say(f"ignored column(s): {', '.join(ignored[:10])}{' …' if len(ignored) > 10 else ''}")
    kept = frame[[c for c in FIELDS if c in frame.columns]]
    kept = kept.astype(object).where(pd.notna(kept), None)
    rows = kept.to_dict(orient="records")
    csv = args.input.lower().endswith((".csv", ".csv.gz", ".txt"))
    label, first = ("line", 2) if csv else ("row", 0)  # a CSV's header is line 1
    outcomes = validate_outcomes(
        rows,
        salt,
        outcome_map=args.outcome_map,
        strict=False,
        source=args.input,
        first_row=first,
        label=label,
    )
    frauds = sum(o.outcome == "fraud" for o in outcomes)
    legit = len(outcomes) - frauds
    counted = f"{len(outcomes):,} outcome(s) valid ({frauds:,} fraud, {legit:,} legitimate)"
    if args.check:
        print(f"{counted}; --check: nothing recorded")
        return 0
    assert uri is not None
    result = record_outcomes(
        uri,
        outcomes,
        rows=list(range(first, first + len(outcomes))),
        source=args.input,
        label=label,
        store=open_store(uri),
    )
    print(f"{counted}: {result.message} in {uri.rstrip('/')}/outcomes")
    return 0
