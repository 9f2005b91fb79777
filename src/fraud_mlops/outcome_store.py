"""Outcomes in the lakehouse ``outcomes/`` dataset: recorded once, read back deduplicated.

Layout under the lakehouse root, one small JSON document per decision::

    outcomes/date=<decided date, UTC>/<claim_key>_<decided_at>_<outcome>.json

The name is derived from the decision itself, so recording is idempotent on
(claim key, decided_at): before writing, the batch's date folders are listed once each, names
already there are counted as "already recorded" and not written again. The outcome is part of
the name so a listing alone also finds a *conflicting* re-send (same claim and decided_at,
other outcome): the whole batch is then refused, since a correction is a new decision with a
later decided_at. A batch whose writes are cut short (a network failure) is completed by
sending it again. Two writers racing on the same decision write the same name with the same
content but their own ``recorded_at``; the last one stands.

This module ships in the Lambda zip: it writes plain files locally and uses boto3 on ``s3://``
(no pyarrow, no pandas). ``abfss://`` writes and :func:`read_outcomes` live in
:mod:`fraud_mlops.outcome_reader` (pandas, pyarrow), never imported on the Lambda path.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fraud_mlops.errors import ConfigError, DataValidationError, LakehouseError
from fraud_mlops.outcomes import OUTCOMES, Outcome

DATASET = "outcomes"
NAME_PATTERN = re.compile(
    r"^(?P<key>[0-9a-f]{32})_(?P<stamp>\d{8}T\d{6}\.\d{6}Z)"
    r"_(?P<outcome>" + "|".join(OUTCOMES) + r")\.json$"
)
PUT_WORKERS = 16
COLUMNS = ("claim_key", "outcome", "decided_at", "reason", "recorded_at")


def object_name(outcome: Outcome) -> str:
    return f"{outcome.claim_key}_{outcome.stamp}_{outcome.outcome}.json"


def folder(outcome: Outcome) -> str:
    return f"{DATASET}/date={outcome.decided_at.date().isoformat()}"


def _decision(outcome: Outcome) -> str:
    """The name's prefix that identifies a decision: ``<claim_key>_<decided_at>_``."""
    return f"{outcome.claim_key}_{outcome.stamp}_"


def _by_decision(names: set[str]) -> dict[str, list[str]]:
    """A folder's names by decision prefix (claim keys and stamps hold no ``_``, so the prefix
    is everything up to the second ``_``); staging files (``_…``) are not decisions."""
    index: dict[str, list[str]] = {}
    for name in sorted(names):
        parts = name.split("_", 2)
        if len(parts) == 3 and not name.startswith("_"):
            index.setdefault(f"{parts[0]}_{parts[1]}_", []).append(name)
    return index


@dataclass(frozen=True)
class RecordResult:
    new: int
    already: int

    @property
    def message(self) -> str:
        return f"recorded {self.new:,} new, {self.already:,} already recorded"

    def counts(self) -> dict[str, int]:
        return {"recorded": self.new, "already_recorded": self.already}


class OutcomeConflictError(DataValidationError):
    """A re-sent decision disagrees with the one recorded (nothing was written)."""

    exit_code = 3

    def __init__(self, source: str, problems: list[str], rows: list[int]):
        self.rows = rows
        super().__init__(source, problems)


class _Local:
    def __init__(self, root: str):
        self.root = Path(root)

    def names(self, prefix: str) -> set[str]:
        where = self.root / prefix
        if not where.is_dir():
            return set()
        try:  # scandir: the file type comes with the listing, no stat per name
            with os.scandir(where) as entries:
                return {e.name for e in entries if e.is_file()}
        except OSError as exc:
            raise LakehouseError(f"could not list {where}: {exc}") from None

    def put(self, key: str, body: bytes) -> None:
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staging = path.parent / f"_staging-{uuid.uuid4().hex}"
            staging.write_bytes(body)
            os.replace(staging, path)  # whole or not at all
        except OSError as exc:
            raise LakehouseError(f"could not write {path}: {exc}") from None


class _S3:
    """boto3 (in the Lambda runtime); the endpoint comes from AWS_ENDPOINT_URL[_S3] if set."""

    def __init__(self, uri: str):
        import boto3

        parsed = urlparse(uri)
        if not parsed.netloc:
            raise LakehouseError(f"{uri!r} has no bucket: use s3://bucket/prefix")
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/")
        self.client = boto3.client("s3")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def names(self, prefix: str) -> set[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        full = self._key(prefix) + "/"
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            return {o["Key"][len(full) :] for page in pages for o in page.get("Contents", [])}
        except (BotoCoreError, ClientError) as exc:
            raise LakehouseError(
                f"could not list s3://{self.bucket}/{full}: {exc}. Check the bucket and that "
                "the role may s3:ListBucket on the outcomes/ prefix"
            ) from None

    def put(self, key: str, body: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, ContentType="application/json"
            )
        except (BotoCoreError, ClientError) as exc:
            raise LakehouseError(
                f"could not write s3://{self.bucket}/{self._key(key)}: {exc}. Send the batch "
                "again once fixed: what was recorded is not recorded twice"
            ) from None


def open_store(uri: str) -> Any:
    """The writer for a lakehouse root: a folder or ``s3://`` (the Lambda's two); ``abfss://``
    is :func:`fraud_mlops.outcome_reader.open_store`'s (it needs pyarrow)."""
    if uri.startswith("s3://"):
        return _S3(uri)
    if uri.startswith(("abfss://", "abfs://")):
        raise ConfigError(
            f"outcomes on {uri.split('://')[0]}:// are recorded through pyarrow: use "
            "`fraud-mlops outcomes ingest` (the API writes to a folder or s3:// only)"
        )
    if "://" in uri and not uri.startswith("file://"):
        raise ConfigError(f"lakehouse {uri!r}: use a folder, s3://bucket/prefix or abfss://…")
    return _Local(urlparse(uri).path if uri.startswith("file://") else os.path.abspath(uri))


def record_outcomes(
    lakehouse_uri: str,
    outcomes: Iterable[Outcome],
    *,
    rows: list[int] | None = None,
    source: str = "outcome batch",
    label: str = "row",
    now: datetime | None = None,
    store: Any = None,
) -> RecordResult:
    """Record validated outcomes once each; refuse the batch if one contradicts the store.

    ``rows`` are the outcomes' row numbers in the caller's batch (for conflict messages);
    ``store`` an opened writer (default: :func:`open_store` of ``lakehouse_uri``).
    """
    outcomes = list(outcomes)
    rows = rows if rows is not None else list(range(len(outcomes)))
    store = store if store is not None else open_store(lakehouse_uri)
    # Each folder's names by decision (``<claim_key>_<decided_at>_``): one pass over the
    # listing, then a lookup per outcome (a scan per outcome made a 500-outcome batch into a
    # folder of 18,000 decisions take seconds).
    existing = {f: _by_decision(store.names(f)) for f in sorted({folder(o) for o in outcomes})}
    problems, bad_rows, new = [], [], []
    for row, outcome in zip(rows, outcomes, strict=True):
        same_decision = existing[folder(outcome)].get(_decision(outcome), [])
        if object_name(outcome) in same_decision:
            continue
        if same_decision:
            recorded = NAME_PATTERN.match(same_decision[0])
            was = recorded["outcome"] if recorded else same_decision[0]
            problems.append(
                f"{label} {row}: this claim's decision at {outcome.decided_at:%Y-%m-%dT%H:%M:%SZ} "
                f"is already recorded as {was}, not {outcome.outcome}: a correction is a new "
                "decision, send it with its own (later) decided_at"
            )
            bad_rows.append(row)
            continue
        new.append(outcome)
    if problems:
        raise OutcomeConflictError(source, problems, bad_rows)
    when = (now or datetime.now(UTC)).astimezone(UTC)

    def put(outcome: Outcome) -> None:
        body = json.dumps(outcome.document(when), separators=(",", ":")).encode()
        store.put(f"{folder(outcome)}/{object_name(outcome)}", body)

    # One small PUT per decision: overlapped, so an export of thousands is not thousands of
    # round trips in a row (boto3 clients are thread-safe). A failed write raises after the
    # others finish; sending the batch again records only what is missing.
    with ThreadPoolExecutor(max_workers=max(1, min(PUT_WORKERS, len(new)))) as pool:
        for future in [pool.submit(put, o) for o in new]:
            future.result()
    return RecordResult(new=len(new), already=len(outcomes) - len(new))
