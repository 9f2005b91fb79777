"""Publish a monitoring report: lakehouse ``monitoring/*``, the warehouse, notifications, retrain.

Four run-partitioned lakehouse datasets, each the mirror of one warehouse table of
:data:`fraud_mlops.warehouse.specs.MONITORING_TABLES` (columns derived from the specs, as the
training outputs are): ``monitoring/drift``, ``monitoring/shadow``, ``monitoring/alerts`` and,
written last, ``monitoring/metrics`` (the partition that marks a monitoring run as complete:
the warehouse sync requires it). Each partition is written atomically by
:class:`fraud_mlops.lakehouse.Lakehouse`, so re-running a run id replaces its rows.

Alerts (level ``alert``) are notified through :func:`fraud_mlops.cloud.notify.send_all`, which
never raises. :func:`start_retraining` starts the training flow when asked (off by default).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from fraud_mlops.errors import ConfigError
from fraud_mlops.lakehouse import Lakehouse
from fraud_mlops.monitoring_report import MonitoringReport
from fraud_mlops.outputs import lakehouse_schema, now
from fraud_mlops.warehouse import specs

ALL = "__all__"


def _table(spec: specs.TableSpec, rows: list[dict[str, Any]]) -> pa.Table:
    schema = lakehouse_schema(spec)
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)


def _common(report: MonitoringReport, created_at: datetime) -> dict[str, Any]:
    return {
        "window_start": report.window.start,
        "window_end": report.window.end,
        "created_at": created_at,
    }


def drift_table(report: MonitoringReport, created_at: datetime) -> pa.Table:
    base = {**_common(report, created_at), "reference_version": report.reference_version}
    return _table(specs.MONITORING_DRIFT, [{**base, **row} for row in report.drift])


def metrics_table(report: MonitoringReport, created_at: datetime) -> pa.Table:
    base = {**_common(report, created_at), "model_version": report.reference_version}
    fr, perf, shift = report.flag_rate, report.performance, report.score_shift
    rows = [
        {
            "metric": "scores",
            "segment": ALL,
            "value": report.scores_read,
            "claims": report.scores_read,
        },
        {"metric": "flag_rate", "segment": ALL, "value": fr["rate"], "claims": fr["claims"]},
        {"metric": "alert_budget", "segment": ALL, "value": fr["budget"], "claims": fr["claims"]},
        {
            "metric": "score_psi",
            "segment": ALL,
            "value": shift.get("psi"),
            "claims": report.champion_scores,
        },
        {
            "metric": "labelled_claims",
            "segment": ALL,
            "value": perf["labelled"],
            "claims": perf["labelled"],
        },
        {
            "metric": "matured_claims",
            "segment": ALL,
            "value": perf["matured"],
            "claims": perf["labelled"],
        },
    ]
    rows += [
        {"metric": "flag_rate", "segment": d["date"], "value": d["rate"], "claims": d["claims"]}
        for d in fr["by_day"]
    ]
    for metric in ("precision_at_budget", "recall_at_budget"):
        interval = perf.get(metric) or {}
        rows.append(
            {
                "metric": metric,
                "segment": ALL,
                "value": interval.get("value"),  # NULL: insufficient labelled claims
                "low": interval.get("low"),
                "high": interval.get("high"),
                "claims": perf["matured"],
            }
        )
    return _table(specs.MONITORING_METRICS, [{**base, **r} for r in rows])


def shadow_table(report: MonitoringReport, created_at: datetime) -> pa.Table:
    sh = report.shadow
    if not sh:
        return _table(specs.SHADOW_COMPARISON, [])
    base = {
        **_common(report, created_at),
        "champion_version": sh["champion_version"],
        "shadow_version": sh["shadow_version"],
        "claims": sh["claims"],
        "frauds": sh["frauds"],
        "status": sh["status"],
        "resamples": sh.get("n_resamples", 0),
    }
    rows = []
    for metric in ("pr_auc", "precision_at_budget"):
        m = sh.get(metric) or {}
        rows.append(
            {
                **base,
                "metric": metric,
                "champion_value": m.get("champion"),
                "shadow_value": m.get("shadow"),
                "difference": m.get("difference", m.get("value")),
                "low": m.get("low"),
                "high": m.get("high"),
            }
        )
    return _table(specs.SHADOW_COMPARISON, rows)


def alerts_table(report: MonitoringReport, created_at: datetime) -> pa.Table:
    base = _common(report, created_at)
    rows = [
        {
            **base,
            "kind": a.kind,
            "subject": a.subject,
            "level": a.level,
            "value": a.value,
            "threshold": a.threshold,
            "message": a.message,
        }
        for a in report.alerts
    ]
    return _table(specs.MONITORING_ALERTS, rows)


def write_report(
    report: MonitoringReport, lakehouse_uri: str, run_id: str, created_at: datetime | None = None
) -> dict[str, str]:
    """Write the four ``monitoring/*`` partitions of ``run_id``; returns dataset -> URI."""
    lake = Lakehouse(lakehouse_uri)
    lake.check_run_id(run_id)
    created_at = created_at or now()
    tables = {
        specs.MONITORING_DRIFT.dataset: drift_table(report, created_at),
        specs.SHADOW_COMPARISON.dataset: shadow_table(report, created_at),
        specs.MONITORING_ALERTS.dataset: alerts_table(report, created_at),
        specs.MONITORING_METRICS.dataset: metrics_table(report, created_at),  # last: marks done
    }
    return {dataset: lake.write(dataset, run_id, table).uri for dataset, table in tables.items()}


def sync_warehouse(run_id: str, lakehouse_uri: str, settings: Any = None) -> Any:
    """Merge the run's ``monitoring/*`` partitions into the warehouse (repeatable)."""
    from fraud_mlops.warehouse.sync import sync_monitoring_run

    return sync_monitoring_run(run_id, lakehouse_uri=lakehouse_uri, settings=settings)


def notify_alerts(
    report: MonitoringReport,
    run_id: str,
    env: Mapping[str, str] | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> list[Any]:
    """Send one notice when an alert fired (warnings alone are only recorded); never raises."""
    from fraud_mlops.cloud.notify import Notice, send_all

    alerts = [a for a in report.alerts if a.level == "alert"]
    if not alerts:
        return []
    notice = Notice(
        status="failure",
        title=f"monitoring: {len(alerts)} alert(s) for {report.model_name} "
        f"{report.reference_version}",
        run_id=run_id,
        details=[f"window {report.window.label()}, {report.champion_scores} scores"]
        + [a.message for a in alerts],
        links=list(links),
    )
    return send_all(notice, env)


@dataclass(frozen=True)
class RetrainTrigger:
    """How retraining was started: ``local`` (a process) or ``stepfunctions`` (an execution)."""

    mode: str
    reference: str  # the process id, or the execution ARN


def start_retraining(
    *,
    mode: str,
    flow_file: str | Path,
    parameters: Mapping[str, Any] | None = None,
    state_machine: str | None = None,
    region: str | None = None,
    sfn_client: Any = None,
    popen: Any = subprocess.Popen,
) -> RetrainTrigger:
    """Start the training flow without waiting for it.

    ``mode="local"`` starts ``python FLOW run`` as a detached process (the monitoring run does
    not wait hours for training); ``mode="stepfunctions"`` starts the training state machine
    (an ARN, or a name looked up in the account; default: Metaflow's name for the flow).
    """
    from fraud_mlops.cloud import stepfunctions as sfn

    params = {k: str(v) for k, v in (parameters or {}).items()}
    if mode == "local":
        args = [sys.executable, str(flow_file), "run"]
        for key, value in params.items():
            args += [f"--{key.replace('_', '-')}", value]
        proc = popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        return RetrainTrigger("local", str(proc.pid))
    if mode == "stepfunctions":
        client = sfn_client or sfn.sfn_client(region)
        target = state_machine or sfn.FLOW_NAME
        arn = target if target.startswith("arn:") else sfn.find_state_machine(client, target)
        execution_arn, _ = sfn.start_execution(
            client, arn, params, name=sfn.unique_execution_name("retrain")
        )
        return RetrainTrigger("stepfunctions", execution_arn)
    raise ConfigError(f"retrain mode {mode!r}: use local or stepfunctions")


def report_json(report: MonitoringReport) -> str:
    return json.dumps(report.to_dict(), default=str, sort_keys=True)


def latest_shadow_evidence(lakehouse_uri: str, version: str) -> dict[str, Any] | None:
    """The newest monitoring run's comparison of shadow ``version`` with its champion, or None.

    Read back from ``monitoring/shadow`` (what ``fraud-mlops promote`` cites); the dict has the
    shape of :func:`fraud_mlops.monitoring_performance.shadow_evidence` plus ``run_id`` and
    ``window_end``.
    """
    import pyarrow.compute as pc

    from fraud_mlops.errors import LakehouseError

    lake = Lakehouse(lakehouse_uri)
    dataset = specs.SHADOW_COMPARISON.dataset
    try:
        if not lake.runs(dataset):
            return None
        table = lake.read(dataset)
    except LakehouseError:
        return None
    rows = table.filter(pc.equal(table["shadow_version"], version)).to_pylist()
    if not rows:
        return None
    newest = max(rows, key=lambda r: (r["created_at"], r["run_id"]))
    run = [r for r in rows if r["run_id"] == newest["run_id"]]
    metrics = {r["metric"]: r for r in run}
    out: dict[str, Any] = {
        "run_id": newest["run_id"],
        "window_end": newest["window_end"].isoformat(),
        "champion_version": newest["champion_version"],
        "shadow_version": version,
        "claims": newest["claims"],
        "frauds": newest["frauds"],
        "status": newest["status"],
    }
    if newest["status"] == "insufficient":
        return {
            **out,
            "reason": "too few labelled claims with both scores (see MONITOR_MIN_LABELLED)",
        }
    pr, pb = metrics.get("pr_auc", {}), metrics.get("precision_at_budget", {})
    return {
        **out,
        "pr_auc": {
            "shadow": pr.get("shadow_value"),
            "champion": pr.get("champion_value"),
            "difference": pr.get("difference"),
            "low": pr.get("low"),
            "high": pr.get("high"),
        },
        "precision_at_budget": {
            "shadow": pb.get("shadow_value"),
            "champion": pb.get("champion_value"),
            "value": pb.get("difference"),
            "low": pb.get("low"),
            "high": pb.get("high"),
        },
        "n_resamples": newest["resamples"],
    }


def evidence_lines(evidence: Mapping[str, Any], version: str) -> list[str]:
    """What ``promote`` prints about a version's shadow record."""
    from fraud_mlops.monitoring_report import format_shadow

    return [
        f"shadow evidence for {version} (monitoring run {evidence['run_id']}, window to "
        f"{evidence['window_end']}):",
        format_shadow(evidence),
    ]
