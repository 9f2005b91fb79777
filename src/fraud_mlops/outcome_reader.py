"""Outcomes read back from the lakehouse (pandas, pyarrow), and ``abfss://`` outcome writes.

Not on the Lambda path: :mod:`fraud_mlops.outcome_store` (layout, idempotent recording) is;
this module adds what needs pyarrow. See that module for the layout.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TYPE_CHECKING, Any

from fraud_mlops import outcome_store
from fraud_mlops.errors import ConfigError, LakehouseError
from fraud_mlops.outcome_store import COLUMNS, DATASET, NAME_PATTERN

if TYPE_CHECKING:
    import pandas as pd


def open_store(uri: str) -> Any:
    """The writer for any lakehouse root, ``abfss://`` included."""
    if uri.startswith(("abfss://", "abfs://")):
        return _Arrow(uri)
    return outcome_store.open_store(uri)


class _Arrow:
    """Any pyarrow filesystem (abfss://); not on the Lambda path."""

    def __init__(self, uri: str):
        from fraud_mlops.lakehouse import resolve_filesystem

        self.fs, self.root = resolve_filesystem(uri)

    def names(self, prefix: str) -> set[str]:
        import pyarrow.fs as pafs

        from fraud_mlops.lakehouse import list_folder

        infos = list_folder(self.fs, f"{self.root}/{prefix}", shown=prefix)
        return {i.base_name for i in infos if i.type == pafs.FileType.File}

    def put(self, key: str, body: bytes) -> None:
        from fraud_mlops.adls import redact
        from fraud_mlops.lakehouse import publish_staged

        path = f"{self.root}/{key}"
        parent = path.rpartition("/")[0]
        staging = f"{parent}/_staging-{uuid.uuid4().hex}"
        try:
            self.fs.create_dir(parent, recursive=True)
            with self.fs.open_output_stream(staging) as out:
                out.write(body)
            publish_staged(self.fs, staging, path)
        except OSError as exc:
            # pyarrow's Azure errors quote request URLs, SAS signature included
            raise LakehouseError(f"could not write {key}: {redact(str(exc))}") from None


def read_outcomes(
    lakehouse_uri: str,
    *,
    decided_from: date | None = None,
    decided_to: date | None = None,
    latest: bool = True,
) -> pd.DataFrame:
    """Recorded outcomes: ``claim_key, outcome, decided_at (UTC), reason, recorded_at (UTC)``.

    ``decided_from``/``decided_to`` are inclusive UTC dates of the decision. ``latest``: one row
    per claim key, its latest decision (a later decision supersedes an earlier one); otherwise
    every decision (each once: they are unique by claim key and decided_at).
    """
    import pandas as pd

    from fraud_mlops.lakehouse import date_partitions, list_folder, resolve_filesystem

    if decided_from and decided_to and decided_from > decided_to:
        raise ConfigError(
            f"decided_from {decided_from} is after decided_to {decided_to}: swap the dates"
        )
    fs, root = resolve_filesystem(lakehouse_uri)
    paths = []
    for folder in date_partitions(fs, f"{root}/{DATASET}", decided_from, decided_to):
        files = list_folder(fs, folder)
        paths += sorted(f.path for f in files if NAME_PATTERN.match(f.base_name))

    def load(path: str) -> dict[str, Any]:
        try:
            with fs.open_input_stream(path) as stream:
                doc = json.loads(stream.read())
        except (OSError, ValueError) as exc:
            raise LakehouseError(
                f"outcome object {path} is unreadable ({type(exc).__name__}): delete it and "
                "record that outcome again"
            ) from None
        if not isinstance(doc, dict) or any(c not in doc for c in COLUMNS):
            raise LakehouseError(f"outcome object {path} lacks fields {', '.join(COLUMNS)}")
        return {c: doc[c] for c in COLUMNS}

    with ThreadPoolExecutor(max_workers=16) as pool:  # many small objects: overlap the GETs
        docs = list(pool.map(load, paths))
    frame = pd.DataFrame(docs, columns=list(COLUMNS))
    for column in ("decided_at", "recorded_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").astype(
            "datetime64[ns, UTC]"
        )
    frame["reason"] = frame["reason"].astype(object).where(frame["reason"].notna(), None)
    frame = frame.sort_values(["claim_key", "decided_at", "recorded_at"], kind="stable")
    frame = frame.drop_duplicates(["claim_key", "decided_at"], keep="last")
    if latest:
        frame = frame.drop_duplicates("claim_key", keep="last")
    return frame.reset_index(drop=True)
