"""The monitoring flow's card: PSI bars, score histograms, flag rate by day, precision.

Drawn from the report's plain dict (``MonitoringReport.to_dict``); only the flow imports this
(and with it ``metaflow.cards``); matplotlib is imported where a figure is drawn.
"""

from __future__ import annotations

from typing import Any

from fraud_mlops.reports import new_figure


def psi_figure(report: dict[str, Any]):
    rows = sorted(report["drift"], key=lambda r: r["psi"])
    fig, ax = new_figure(7, 0.3 * len(rows) + 1.2)
    colors = {"stable": "tab:green", "moderate": "tab:orange", "major": "tab:red"}
    ax.barh([r["feature"] for r in rows], [r["psi"] for r in rows],
            color=[colors[r["verdict"]] for r in rows])  # fmt: skip
    for x in (0.1, 0.25):
        ax.axvline(x, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("PSI vs the champion's training reference")
    fig.tight_layout()
    return fig


def score_figure(report: dict[str, Any]):
    import numpy as np

    shift = report["score_shift"]
    edges = np.asarray(shift["edges"])
    centers = np.arange(len(shift["window_hist"]))
    fig, ax = new_figure(7, 3)
    for name, hist in (("reference", shift["reference_hist"]), ("window", shift["window_hist"])):
        if hist:
            h = np.asarray(hist, dtype=float)
            ax.step(centers, h / max(h.sum(), 1), where="mid", label=name)
    ticks = centers[:: max(1, len(centers) // 8)]
    ax.set_xticks(ticks, [f"{edges[i]:.3g}" for i in ticks])
    ax.set_xlabel(f"score (logit bins); reference: {shift['against']}")
    ax.set_ylabel("share of claims")
    ax.legend()
    fig.tight_layout()
    return fig


def flag_rate_figure(report: dict[str, Any]):
    fr = report["flag_rate"]
    days = [d["date"] for d in fr["by_day"]]
    fig, ax = new_figure(7, 3)
    ax.plot(days, [d["rate"] for d in fr["by_day"]], marker="o", label="flag rate")
    ax.axhline(fr["budget"], color="grey", linestyle="--", label="alert budget")
    ax.axhspan(fr["band"][0], fr["band"][1], color="grey", alpha=0.1, label="band")
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    fig.tight_layout()
    return fig


def precision_figure(report: dict[str, Any]):
    perf = report["performance"]
    fig, ax = new_figure(5, 2.5)
    names = ["precision_at_budget", "recall_at_budget"]
    values = [perf[n]["value"] for n in names]
    errors = [[v - perf[n]["low"] for n, v in zip(names, values, strict=True)],
              [perf[n]["high"] - v for n, v in zip(names, values, strict=True)]]  # fmt: skip
    ax.errorbar(values, [0, 1], xerr=errors, fmt="o", capsize=4)
    ax.set_yticks([0, 1], ["precision @ budget", "recall @ budget"])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"realised, 95 % bootstrap interval ({perf['matured']} matured labels)")
    fig.tight_layout()
    return fig


def monitoring_card(report: dict[str, Any]) -> list:
    """Components of the monitoring card."""
    from metaflow.cards import Image, Markdown, Table

    from fraud_mlops.monitoring_report import format_report

    alerts = report["alerts"]
    parts = [
        Markdown(
            f"# Monitoring {report['model_name']} {report['reference_version']}\n\n"
            f"Window {report['window']['start']} .. {report['window']['end']}: "
            f"{report['champion_scores']:,} champion scores, {report['shadow_scores']:,} shadow."
        ),
        Markdown(f"## Alerts: {len(alerts) or 'none'}"),
    ]
    if alerts:
        parts.append(
            Table(
                [[a["level"], a["kind"], a["message"]] for a in alerts],
                headers=["level", "kind", "message"],
            )
        )
    parts += [
        Markdown("## Feature drift"),
        Image.from_matplotlib(psi_figure(report)),
        Markdown("## Scores"),
        Image.from_matplotlib(score_figure(report)),
        Markdown("## Flag rate by day"),
        Image.from_matplotlib(flag_rate_figure(report)),
    ]
    if report["performance"]["status"] == "ok":
        parts += [
            Markdown("## Realised precision / recall"),
            Image.from_matplotlib(precision_figure(report)),
        ]
    parts += [Markdown("## Report\n\n```\n" + format_report(report) + "\n```")]
    return parts
