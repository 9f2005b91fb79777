"""The monitoring report: its records, the thresholds it crosses, and its text.

The report is a flow artifact as a plain dict (:meth:`MonitoringReport.to_dict`,
:func:`report_from_dict`); :func:`format_report` prints either form the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from fraud_mlops.monitoring_config import MonitoringSettings, Window


# -- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One crossed threshold. ``level`` is ``warn`` or ``alert`` (alerts are notified)."""

    kind: str  # feature_drift | score_shift | flag_rate | precision | shadow
    subject: str
    level: Literal["warn", "alert"]
    value: float
    threshold: float
    message: str


@dataclass
class MonitoringReport:
    """Everything a monitoring run computed, JSON-safe via :meth:`to_dict`."""

    window: Window
    model_name: str
    reference_version: str
    alert_budget: float
    scores_read: int
    champion_scores: int
    shadow_scores: int
    versions: dict[str, int]
    drift: list[dict[str, Any]]
    score_shift: dict[str, Any]
    flag_rate: dict[str, Any]
    performance: dict[str, Any]
    shadow: dict[str, Any] | None
    alerts: list[Alert] = field(default_factory=list)
    capture_skipped: int = 0  # capture lines the reader could not use (named in its ScanStats)
    outside_window: int = 0  # records of the window's dates but outside its times

    @property
    def alerting(self) -> bool:
        return any(a.level == "alert" for a in self.alerts)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = {
            "start": self.window.start.isoformat(),
            "end": self.window.end.isoformat(),
        }
        return out


# -- thresholds -------------------------------------------------------------------------------
def evaluate_alerts(report: MonitoringReport, settings: MonitoringSettings) -> list[Alert]:
    """Every threshold the report crosses, most severe first."""
    alerts: list[Alert] = []

    def psi_alert(kind: str, subject: str, psi: float | None) -> None:
        if psi is None or psi < settings.psi_warn:
            return
        level = "alert" if psi >= settings.psi_alert else "warn"
        limit = settings.psi_alert if level == "alert" else settings.psi_warn
        alerts.append(
            Alert(kind, subject, level, psi, limit, f"{subject}: PSI {psi:.3f} >= {limit:g}")
        )

    for row in report.drift:
        psi_alert("feature_drift", row["feature"], row["psi"])
    psi_alert("score_shift", "score", report.score_shift.get("psi"))
    fr = report.flag_rate
    low, high = fr["band"]
    if not low <= fr["rate"] <= high:
        limit = low if fr["rate"] < low else high
        alerts.append(
            Alert(
                "flag_rate",
                "flag rate",
                "alert",
                fr["rate"],
                limit,
                f"flag rate {fr['rate']:.2%} is outside {low:.2%}..{high:.2%} "
                f"(alert budget {fr['budget']:.0%})",
            )
        )
    perf = report.performance
    if perf.get("status") == "ok":
        p = perf["precision_at_budget"]
        floor = settings.precision_floor
        if p["high"] < floor or p["value"] < floor:
            level = "alert" if p["high"] < floor else "warn"
            alerts.append(
                Alert(
                    "precision",
                    "precision at budget",
                    level,
                    p["value"],
                    floor,
                    f"realised precision at the budget {p['value']:.3f} "
                    f"[{p['low']:.3f}, {p['high']:.3f}] vs floor {floor:g}",
                )
            )
    sh = report.shadow
    if sh and sh.get("status") == "shadow_better":
        d = sh["pr_auc"]
        alerts.append(
            Alert(
                "shadow",
                f"shadow {sh['shadow_version']}",
                "warn",
                d["difference"],
                0.0,
                f"shadow {sh['shadow_version']} beats the champion: PR-AUC "
                f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]; consider "
                f"`fraud-mlops promote --version {sh['shadow_version']}`",
            )
        )
    return sorted(alerts, key=lambda a: (a.level != "alert", a.kind, a.subject))


# -- text -------------------------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def format_report(report: MonitoringReport | Mapping[str, Any]) -> str:
    """The report as the text the flow's ``end`` step and ``make monitor-demo`` print."""
    r = report.to_dict() if isinstance(report, MonitoringReport) else dict(report)
    w = r["window"]
    lines = [
        f"monitoring {r['model_name']} (reference: champion {r['reference_version']}) over "
        f"{w['start']} .. {w['end']}",
        f"  {r['scores_read']:,} captured scores: {r['champion_scores']:,} champion, "
        f"{r['shadow_scores']:,} shadow; versions {r['versions']}",
    ]
    if r.get("capture_skipped"):
        lines.append(
            f"  {r['capture_skipped']:,} capture line(s) could not be read and were skipped "
            "(the capture reader's ScanStats names them)"
        )
    lines += [
        "",
        f"  {'feature':<28} {'kind':<12} {'PSI':>7} {'KS':>7}  verdict",
    ]
    for d in r["drift"]:
        lines.append(
            f"  {d['feature']:<28} {d['kind']:<12} {d['psi']:>7.3f} {_fmt(d['ks']):>7}  "
            f"{d['verdict']}"
        )
    s = r["score_shift"]
    lines += ["", f"  score shift: PSI {_fmt(s['psi'])} against {s['against']}"]
    f = r["flag_rate"]
    lines.append(
        f"  flag rate: {f['rate']:.2%} of {f['claims']:,} claims (alert budget {f['budget']:.0%}, "
        f"band {f['band'][0]:.2%}..{f['band'][1]:.2%})"
    )
    p = r["performance"]
    counts = (
        f"{p['labelled']:,} labelled claims, {p['matured']:,} matured "
        f"(>= {p['maturity_days']} days old), {p['immature_excluded']:,} too recent, "
        f"{p['frauds']:,} frauds"
    )
    if p["status"] == "ok":
        pb, rb = p["precision_at_budget"], p["recall_at_budget"]
        expected = p.get("expected_precision_at_budget")
        lines += [
            f"  realised precision at the budget: {pb['value']:.3f} "
            f"[{pb['low']:.3f}, {pb['high']:.3f}] (test: {_fmt(expected)}); recall "
            f"{rb['value']:.3f} [{rb['low']:.3f}, {rb['high']:.3f}]",
            f"    {counts}",
        ]
    else:
        lines.append(f"  realised precision: insufficient ({p['reason']}); {counts}")
    sh = r.get("shadow")
    if sh:
        lines.append("")
        lines.append(format_shadow(sh))
    alerts = r["alerts"]
    lines += ["", f"  alerts: {len(alerts) or 'none'}"]
    lines += [f"    [{a['level'].upper()}] {a['message']}" for a in alerts]
    return "\n".join(lines)


def format_shadow(sh: Mapping[str, Any]) -> str:
    """Shadow evidence in two lines (also printed by ``fraud-mlops promote``)."""
    head = (
        f"  shadow {sh['shadow_version']} vs champion {sh['champion_version']} on "
        f"{sh['claims']:,} labelled claims ({sh['frauds']:,} frauds): {sh['status']}"
    )
    if sh["status"] == "insufficient":
        return f"{head}\n    {sh['reason']}"
    d, pb = sh["pr_auc"], sh["precision_at_budget"]
    return (
        f"{head}\n    PR-AUC {d['shadow']:.3f} vs {d['champion']:.3f}, difference "
        f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] (paired bootstrap, "
        f"{sh['n_resamples']} resamples); precision at the budget {pb['shadow']:.3f} vs "
        f"{pb['champion']:.3f}, difference {pb['value']:+.3f} [{pb['low']:+.3f}, {pb['high']:+.3f}]"
    )


def report_from_dict(data: Mapping[str, Any]) -> MonitoringReport:
    """Rebuild a report from :meth:`MonitoringReport.to_dict` (a flow artifact)."""
    values = dict(data)
    window = values.pop("window")
    values["window"] = Window(
        datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    )
    values["alerts"] = [Alert(**a) for a in values.get("alerts", [])]
    return MonitoringReport(**values)
