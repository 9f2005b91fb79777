"""Figures for the Metaflow cards and the plain-text run summary.

Figures are matplotlib (Agg backend, no display needed); the flow wraps them with
``metaflow.cards.Image.from_matplotlib``. matplotlib is imported inside the functions so that
importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fraud_mlops.evaluate import HEADLINE_METRICS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from fraud_mlops.drift import FeatureDrift

PSI_WARN, PSI_ALERT = 0.1, 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 watch, > 0.25 shifted


def new_figure(width: float = 6.4, height: float = 4.0) -> tuple[Figure, Any]:
    """A figure and its one axes, headless (Agg) and outside pyplot's global state, so a card
    step that draws many keeps none of them alive."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def pr_curve_figure(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    """Precision-recall curves of several models on the same (test) labels."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = new_figure()
    for name, s in scores.items():
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(
            recall,
            precision,
            where="post",
            label=f"{name} (AP {average_precision_score(y, s):.3f})",
        )
    ax.axhline(float(np.mean(y)), color="grey", linestyle=":", label=f"base rate {np.mean(y):.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Precision-recall on the test split")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def score_histogram_figure(y: np.ndarray, scores: np.ndarray, threshold: float) -> Figure:
    """Score distributions of fraud vs non-fraud claims (density, log-spaced bins)."""
    fig, ax = new_figure()
    bins = np.geomspace(max(float(np.min(scores)), 1e-5), 1.0, 40)
    y = np.asarray(y).astype(bool)
    ax.hist(scores[~y], bins=bins, density=True, alpha=0.6, label=f"not fraud ({(~y).sum()})")
    ax.hist(scores[y], bins=bins, density=True, alpha=0.6, label=f"fraud ({y.sum()})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xscale("log")
    ax.set(xlabel="fraud probability", ylabel="density")
    ax.set_title("Test scores by class")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def psi_figure(drifts: Sequence[FeatureDrift], reference_version: str | None) -> Figure:
    """Horizontal PSI bars per feature, coloured by the usual thresholds."""
    fig, ax = new_figure(6.4, max(2.5, 0.3 * len(drifts) + 1))
    names = [d.feature for d in drifts]
    psi = np.array([d.psi for d in drifts], dtype=float)
    colours = [
        "tab:green" if p < PSI_WARN else "tab:orange" if p < PSI_ALERT else "tab:red" for p in psi
    ]
    ax.barh(names, psi, color=colours)
    for x, style in ((PSI_WARN, ":"), (PSI_ALERT, "--")):
        ax.axvline(x, color="grey", linestyle=style)
    ax.invert_yaxis()
    ax.set(xlabel="PSI")
    ax.set_title(f"Drift vs champion {reference_version} training data")
    fig.tight_layout()
    return fig


def comparison_rows(
    metrics: Mapping[str, Mapping[str, float]], names: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """A table of test metrics: header and one row per metric, one column per model."""
    header = ["metric", *metrics.keys()]
    rows = []
    for name in names:
        row = [name]
        for m in metrics.values():
            row.append(f"{m[name]:.4f}" if name in m else "–")
        rows.append(row)
    return header, rows


def _interval(entry: Mapping[str, Any] | None, key: str) -> str:
    """``0.512 [0.441, 0.580]`` from an intervals entry (``value``, ``low``, ``high``)."""
    if not entry or key not in entry:
        return "–"
    e = entry[key]
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def candidate_rows(families: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """One row per candidate: validation figures and test PR-AUC / ROC-AUC with intervals."""
    header = [
        "candidate",
        "val PR-AUC",
        "CV PR-AUC",
        "test PR-AUC [95 % CI]",
        "test ROC-AUC [95 % CI]",
    ]
    rows = []
    for name, entry in families.items():
        cv = entry.get("cv_pr_auc")
        rows.append(
            [
                name,
                f"{entry['val_pr_auc']:.4f}",
                "–" if cv is None else f"{cv:.4f}",
                _interval(entry.get("intervals"), "pr_auc"),
                _interval(entry.get("intervals"), "roc_auc"),
            ]
        )
    return header, rows


def _difference(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return "–"
    if entry.get("low") is None:
        return f"{entry['difference']:+.4f}"
    return f"{entry['difference']:+.4f} [{entry['low']:+.4f}, {entry['high']:+.4f}]"


def selection_lines(info: Mapping[str, Any]) -> list[str]:
    """How the candidate was chosen, the threshold rule and the paired comparisons."""
    sel = info["selection"]
    lines = [
        f"Published candidate: {info['candidate']} (family {info['family']}), chosen by "
        f"{sel['method']}: {sel['reason']}",
    ]
    if sel.get("members"):
        parts = ", ".join(f"{m['family']} x {m['weight']:.2f}" for m in sel["members"])
        lines.append(f"Blend of: {parts} (logit scale; weight chosen on validation)")
    rule = info.get("threshold_rule")
    if rule:
        budget = info.get("alert_budget")
        text = (
            "the expected-cost optimum (it flags no more than the alert budget"
            + (f" {budget:.0%}" if budget else "")
            + ")"
            if rule == "cost"
            else "capped by the alert budget"
            + (f" {budget:.0%}" if budget else "")
            + " (the cost optimum would flag more claims than investigators can review)"
        )
        lines.append(f"Threshold {info['threshold']:.4f} on validation: {text}")
    gate = info.get("gate") or {}
    if gate.get("vs_champion"):
        lines.append(f"candidate - champion, test PR-AUC: {_difference(gate['vs_champion'])}")
    if gate.get("vs_baseline"):
        lines.append(f"candidate - best GBDT, test PR-AUC: {_difference(gate['vs_baseline'])}")
    lines += [f"WARNING: {w}" for w in sel.get("warnings") or []]
    return lines


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join("  " + fmt.format(*r) for r in [header, *rows])


def run_summary(info: Mapping[str, Any]) -> str:
    """The plain-text summary every flow run prints at its end (and ``make demo`` after it)."""
    header, rows = comparison_rows(info["test_metrics"], list(HEADLINE_METRICS))
    header = ["metric", *(("candidate" if k == "mlp" else k) for k in header[1:])]
    gate = info["gate"]
    frauds = info.get("frauds") or {}
    sizes = info["sizes"]
    counts = " / ".join(
        f"{s} {sizes[s]:,}" + (f" ({frauds[s]} frauds)" if s in frauds else "")
        for s in ("train", "validation", "test")
    )
    lines = [
        f"Run {info['flow']}/{info['run_id']}: {info['rows']:,} claims ({counts}), "
        f"{info['trials']} trials",
        "",
    ]
    if info.get("families"):
        lines += [
            "Candidates (test figures with 95 % paired-bootstrap intervals):",
            _table(*candidate_rows(info["families"])),
            "",
            *selection_lines(info),
            "",
        ]
    lines += [
        "Test metrics (threshold chosen on validation; candidate = the published model):",
        _table(header, rows),
        "",
        f"Champion decision: {'PROMOTED' if info['promoted'] else 'not promoted'} "
        f"(model {info['model_name']} version {info['version']}"
        + (f", family {info['family']}" if info.get("family") else "")
        + ")",
        *[f"  {r}" for r in gate["reasons"]],
        "",
        f"Artifact:   {info['artifact_uri']}",
        f"Lakehouse:  {info['lakehouse_uri']} (datasets: {', '.join(info['datasets'])}, "
        f"partition run_id={info['run_id']})",
        "Cards:      "
        + (
            f"METAFLOW_DATASTORE_SYSROOT_LOCAL={info['metaflow_root']} "
            if info.get("metaflow_root")
            else ""
        )
        + f"python flows/fraud_detection_flow.py card view {info['run_id']}/evaluate"
        f"   (also {info['run_id']}/drift; or `card server` to browse)",
        "Serve:      fraud-mlops serve   # scores with the champion from MODEL_STORE_URI",
    ]
    warnings = info.get("data_warnings") or []
    if warnings:
        lines += ["", "Data warnings:", *[f"  - {w}" for w in warnings]]
    return "\n".join(lines)
