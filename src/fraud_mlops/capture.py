"""Captured scores read back from the lakehouse ``scores/`` dataset, in bounded batches.

Writers (see :mod:`fraud_mlops.capture_format`): the API's local file sink
(``scores/date=D/model_version=V/<writer>.jsonl``) and, in the cloud, Kinesis Data Firehose
(``scores/date=D/<object>``: no extension, newline-delimited capture lines, possibly gzip; the
model version only inside the records). ``.parquet`` files with the record's columns are read
too. Every line is one record; a line that is not a valid record is skipped, counted and named
in :class:`ScanStats` (file, line number, why), never silently and never failing the read.

Dates are selected twice: by the ``date=`` folder (so a one-day window lists one folder) and by
each record's ``captured_at`` (Firehose partitions by delivery time, which can be a little later
than capture). ``start`` and ``end`` are inclusive UTC dates.

Memory is flat in the number of scores: files are listed per date folder and streamed line by
line; at most ``batch_rows`` records are held before they are handed out as a DataFrame.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs

from fraud_mlops import capture_format as cf
from fraud_mlops.errors import ConfigError, LakehouseError
from fraud_mlops.lakehouse import date_partitions, list_folder, resolve_filesystem

if TYPE_CHECKING:
    import pandas as pd

try:  # several times faster than json on capture lines; in the serving extra and the dev env
    import orjson

    _loads = orjson.loads

    def _dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

except ImportError:  # pragma: no cover - plain json reads and writes the same text
    _loads = json.loads

    def _dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))


BASE_COLUMNS = (
    "captured_at",
    "request_id",
    "claim_key",
    "model_name",
    "model_version",
    "role",
    "score",
    "flagged",
    "threshold",
    "reasons",
)
UTC_NS = "datetime64[ns, UTC]"
GZIP_MAGIC = b"\x1f\x8b"
MAX_EXAMPLES = 20  # skipped lines quoted in the summary (all are counted)


@dataclass
class Skipped:
    """One skipped line: where and why (never the line itself: it may hold claim data)."""

    file: str
    line: int
    reason: str


@dataclass
class ScanStats:
    """What a read looked at; the caller prints it (``summary()``) after the iterator ends."""

    files: int = 0
    lines: int = 0
    records: int = 0  # valid records read
    selected: int = 0  # records that matched the window, version and role
    skipped: int = 0
    skipped_by_file: dict[str, int] = field(default_factory=dict)
    examples: list[Skipped] = field(default_factory=list)

    def skip(self, file: str, line: int, reason: str) -> None:
        self.skipped += 1
        self.skipped_by_file[file] = self.skipped_by_file.get(file, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(Skipped(file, line, reason))

    def summary(self) -> str:
        text = (
            f"read {self.files:,} file(s), {self.records:,} capture record(s), "
            f"{self.selected:,} selected"
        )
        if not self.skipped:
            return text + ", no malformed lines"
        lines = [f"{text}; skipped {self.skipped:,} malformed line(s):"]
        lines += [f"  {n:,} in {name}" for name, n in sorted(self.skipped_by_file.items())]
        lines += [f"  e.g. {s.file} line {s.line}: {s.reason}" for s in self.examples[:5]]
        return "\n".join(lines)


def _check_window(start: date | None, end: date | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise ConfigError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")
    if start and end and start > end:
        raise ConfigError(f"the window starts {start} after it ends {end}: swap the dates")


class TruncatedGzip(ValueError):
    """A gzip object that ends before its end (a cut upload or a broken copy)."""


CHUNK = 1 << 20


def _chunks(stream: Any) -> Iterator[bytes]:
    """The bytes of an object, gunzipped (every gzip member) when its first bytes say gzip."""
    first = stream.read(CHUNK)
    if not first.startswith(GZIP_MAGIC):
        chunk = first
        while chunk:
            yield chunk
            chunk = stream.read(CHUNK)
        return
    inflate = zlib.decompressobj(wbits=31)
    chunk = first
    while chunk:
        data = inflate.decompress(chunk)
        while inflate.eof and inflate.unused_data:  # the next gzip member
            rest = inflate.unused_data
            inflate = zlib.decompressobj(wbits=31)
            data += inflate.decompress(rest)
        yield data
        chunk = stream.read(CHUNK)
    if not inflate.eof:
        raise TruncatedGzip("gzip object ends early")


def _lines(fs: pafs.FileSystem, path: str) -> Iterator[bytes]:
    """The lines of a text object (any name), streamed chunk by chunk. A cut gzip object yields
    its whole lines, then raises :class:`TruncatedGzip` (the partial line is part of the cut)."""
    with fs.open_input_stream(path, compression=None) as stream:
        tail = b""
        for data in _chunks(stream):
            lines = (tail + data).split(b"\n")
            tail = lines.pop()
            yield from lines
        if tail:
            yield tail


def _record(rec: Any) -> tuple[datetime, dict[str, Any]] | str:
    """A valid record's UTC timestamp and the record, or why it is not valid."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if rec.get("capture") != cf.CAPTURE_VERSION:
        return f"capture version {str(rec.get('capture'))[:40]!r} is not {cf.CAPTURE_VERSION}"
    stamp = rec.get("captured_at")
    try:
        when = datetime.fromisoformat(stamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "captured_at is not an ISO-8601 timestamp"
    if when.tzinfo is None:
        return "captured_at has no UTC offset"
    score = rec.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return "score is not a finite number"
    if not isinstance(rec.get("flagged"), bool):
        return "flagged is not true/false"
    if rec.get("role") not in cf.ROLES:
        return f"role is not one of {', '.join(cf.ROLES)}"
    for name in ("claim_key", "model_version"):
        if not isinstance(rec.get(name), str) or not rec[name]:
            return f"{name} is missing"
    if not isinstance(rec.get("features", {}), dict):
        return "features is not an object"
    return when.astimezone(UTC), rec


def _parse(raw: bytes) -> tuple[datetime, dict[str, Any]] | str | None:
    """One line: a record, a reason to skip it, or ``None`` for a blank line."""
    raw = raw.strip()
    if not raw:
        return None
    at = raw.find(cf.CAPTURE_PREFIX.encode())
    if at >= 0:
        raw = raw[at + len(cf.CAPTURE_PREFIX) :]
    elif not raw.startswith(b"{"):
        return "not a capture line (no capture prefix, not JSON)"
    try:
        rec = _loads(raw)
    except ValueError:
        return "not valid JSON (truncated or corrupt line)"
    return _record(rec)


def _parquet_records(fs: pafs.FileSystem, path: str, batch_rows: int) -> Iterator[Any]:
    """Rows of a Parquet capture file as records (``features`` a struct, a JSON string or
    absent; ``reasons`` a list or JSON text)."""
    import pyarrow.parquet as pq

    with fs.open_input_file(path) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                row.setdefault("capture", cf.CAPTURE_VERSION)
                if isinstance(row.get("captured_at"), datetime):
                    when = row["captured_at"]
                    when = when if when.tzinfo else when.replace(tzinfo=UTC)
                    row["captured_at"] = when.isoformat()
                for name in ("features", "reasons"):
                    if isinstance(row.get(name), str):
                        try:
                            row[name] = json.loads(row[name])
                        except ValueError:
                            row[name] = None
                yield row


class _Batch:
    """Records collected column by column until they are handed out as one DataFrame."""

    def __init__(self) -> None:
        self.when: list[datetime] = []
        self.columns: dict[str, list[Any]] = {c: [] for c in BASE_COLUMNS[1:]}
        self.features: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.when)

    def add(self, when: datetime, rec: dict[str, Any]) -> None:
        self.when.append(when)
        cols = self.columns
        for name in ("request_id", "claim_key", "model_name", "model_version", "role"):
            cols[name].append(rec.get(name))
        cols["score"].append(float(rec["score"]))
        cols["flagged"].append(rec["flagged"])
        cols["threshold"].append(rec.get("threshold"))
        cols["reasons"].append(_dumps(rec.get("reasons") or []))
        self.features.append(rec.get("features") or {})

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.columns)
        frame.insert(
            0, "captured_at", pd.to_datetime(pd.Series(self.when), utc=True).astype(UTC_NS)
        )
        frame["score"] = frame["score"].astype("float64")
        frame["flagged"] = frame["flagged"].astype(bool)
        frame["threshold"] = pd.to_numeric(frame["threshold"], errors="coerce").astype("float64")
        features = pd.DataFrame.from_records(self.features)
        clash = [c for c in features.columns if c in frame.columns]
        if clash:  # a feature named like a record field keeps the field; say so by prefixing
            features = features.rename(columns={c: f"feature_{c}" for c in clash})
        return pd.concat([frame, features], axis=1)


def _files(fs: pafs.FileSystem, folder: str, model_version: str | None) -> list[str]:
    files = []
    for info in list_folder(fs, folder, recursive=True):
        if info.type != pafs.FileType.File:
            continue
        parts = info.path.removeprefix(folder + "/").split("/")
        if any(p.startswith(("_", ".")) for p in parts):
            continue  # staging and hidden files, as the lakehouse's other readers skip them
        versions = [p.removeprefix("model_version=") for p in parts if "model_version=" in p]
        if model_version is not None and versions and versions[0] != model_version:
            continue  # the folder says which version; records are still checked
        files.append(info.path)
    return sorted(files)


def iter_scores(
    lakehouse_uri: str,
    *,
    start: date | None = None,
    end: date | None = None,
    model_version: str | None = None,
    role: str | None = None,
    batch_rows: int = 100_000,
    stats: ScanStats | None = None,
) -> Iterator[pd.DataFrame]:
    """Captured scores as DataFrames of at most ``batch_rows`` rows.

    Columns: ``captured_at`` (UTC), ``request_id``, ``claim_key``, ``model_name``,
    ``model_version``, ``role``, ``score``, ``flagged``, ``threshold``, ``reasons`` (JSON
    text), then one column per captured feature. Batches may differ in their feature columns
    when model versions do. Pass a :class:`ScanStats` to learn what was read and skipped.

    ``lakehouse_uri`` is a lakehouse root (folder, ``s3://``, ``abfss://``) or one ``.jsonl``
    sink file.
    """
    _check_window(start, end)
    if role is not None and role not in cf.ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(cf.ROLES)}")
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
    stats = stats if stats is not None else ScanStats()
    fs, root = resolve_filesystem(lakehouse_uri)
    if root.endswith(".jsonl"):
        if fs.get_file_info(root).type != pafs.FileType.File:
            raise LakehouseError(
                f"no capture file at {lakehouse_uri}: pass a lakehouse root (a folder, s3://…) "
                "or an existing CAPTURE_SINK .jsonl file"
            )
        files = [root]
    else:
        files = [
            f
            for folder in date_partitions(fs, f"{root}/{cf.SCORES}", start, end)
            for f in _files(fs, folder, model_version)
        ]
    batch = _Batch()
    for path in files:
        name = path.removeprefix(root).lstrip("/") or path.rpartition("/")[2]
        stats.files += 1
        for number, parsed in _file_records(fs, path, name, batch_rows, stats):
            if isinstance(parsed, str):
                stats.skip(name, number, parsed)
                continue
            when, rec = parsed
            stats.records += 1
            day = when.date()
            if (start and day < start) or (end and day > end):
                continue
            if (model_version is not None and rec["model_version"] != model_version) or (
                role is not None and rec["role"] != role
            ):
                continue
            stats.selected += 1
            batch.add(when, rec)
            if len(batch) >= batch_rows:
                yield batch.frame()
                batch = _Batch()
    if len(batch):
        yield batch.frame()


def _file_records(
    fs: pafs.FileSystem, path: str, name: str, batch_rows: int, stats: ScanStats
) -> Iterator[tuple[int, tuple[datetime, dict[str, Any]] | str]]:
    """(line number, record or reason) for each non-blank line (or Parquet row) of a file."""
    number = 0
    try:
        if path.endswith(".parquet"):
            for number, row in enumerate(_parquet_records(fs, path, batch_rows), 1):
                stats.lines += 1
                yield number, _record(row)
            return
        for number, raw in enumerate(_lines(fs, path), 1):
            stats.lines += 1
            parsed = _parse(raw)
            if parsed is not None:
                yield number, parsed
    except (TruncatedGzip, zlib.error, OSError, pa.ArrowException) as exc:
        if isinstance(exc, FileNotFoundError):
            raise LakehouseError(f"{name} vanished while it was read: run the read again") from None
        # A truncated gzip object or unreadable Parquet file: what was read counts, the rest
        # of the file is reported, and the other files are still read.
        stats.skip(name, number + 1, f"file unreadable from here on ({type(exc).__name__})")


def read_scores(lakehouse_uri: str, **kwargs: Any) -> pd.DataFrame:
    """All selected scores in one DataFrame (for small windows; see :func:`iter_scores`)."""
    import pandas as pd

    frames = list(iter_scores(lakehouse_uri, **kwargs))
    if not frames:
        empty = {c: pd.Series(dtype="object") for c in BASE_COLUMNS}
        empty["captured_at"] = pd.Series(dtype=UTC_NS)
        empty["score"] = pd.Series(dtype="float64")
        empty["threshold"] = pd.Series(dtype="float64")
        empty["flagged"] = pd.Series(dtype=bool)
        return pd.DataFrame(empty)
    return pd.concat(frames, ignore_index=True)
