"""The headline metrics of a training run, read from the lakehouse ``metrics`` partition.

Trigger/wait commands and notifications print the same few numbers: the trained model's test
metrics, its version and whether it became champion. They come from the run's partition (the
flow writes it, see ``fraud_mlops.outputs``), never from the orchestrator's logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fraud_mlops.errors import FraudMlopsError
from fraud_mlops.evaluate import HEADLINE_METRICS


@dataclass(frozen=True)
class Headline:
    run_id: str
    model_version: str
    is_champion: bool
    split: str
    metrics: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        champion = "became champion" if self.is_champion else "not champion"
        out = [f"model {self.model_version} ({champion}); {self.split} metrics:"]
        out += [f"  {name:<20} {value:.4f}" for name, value in self.metrics.items()]
        return out


def read_headline(lakehouse_uri: str, run_ids: list[str]) -> Headline | None:
    """Headline metrics of the first of ``run_ids`` that has a ``metrics`` partition.

    Several candidates because orchestrators name runs differently (Metaflow on Step Functions
    uses ``sfn-<execution name>``). Returns None when no candidate has a partition.

    Raises:
        LakehouseError: the lakehouse cannot be read at all.
    """
    from fraud_mlops.lakehouse import METRICS, Lakehouse

    lake = Lakehouse(lakehouse_uri)
    available = set(lake.runs(METRICS))
    for run_id in run_ids:
        if run_id in available:
            return _headline(run_id, lake.read(METRICS, run_id).to_pylist())
    return None


def _headline(run_id: str, rows: list[dict]) -> Headline | None:
    mlp = [r for r in rows if r.get("model_kind") == "mlp"]
    for split in ("test", "validation"):
        chosen = [r for r in mlp if r.get("split") == split]
        if chosen:
            break
    else:
        return None
    values = {r["metric"]: float(r["value"]) for r in chosen if r.get("value") is not None}
    ordered = {m: values[m] for m in HEADLINE_METRICS if m in values}
    return Headline(
        run_id=run_id,
        model_version=str(chosen[0].get("model_version", "")),
        is_champion=any(bool(r.get("is_champion")) for r in chosen),
        split=split,
        metrics=ordered,
    )


def try_read_headline(lakehouse_uri: str | None, run_ids: list[str]) -> tuple[Headline | None, str]:
    """Like :func:`read_headline` but never raises: returns ``(headline, note)``."""
    if not lakehouse_uri:
        return None, "no lakehouse URI known (set LAKEHOUSE_URI or export it from the stack)"
    try:
        headline = read_headline(lakehouse_uri, run_ids)
    except FraudMlopsError as exc:
        return None, f"lakehouse not reachable: {exc}"
    if headline is None:
        return None, f"no metrics for run {run_ids[0]} in {lakehouse_uri}/metrics yet"
    return headline, ""
