"""The training flow's Metaflow cards, drawn from the run's typed step records.

Only the flow imports this (and with it ``metaflow.cards``): the library builds the records and
the figures (:mod:`fraud_mlops.reports`, matplotlib) and never imports Metaflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fraud_mlops.contracts import DriftResult, Evaluation, PreparedData


def evaluation_card(evaluation: Evaluation, data: PreparedData, trials: list[dict]) -> list:
    """Components of the evaluation card: candidates with intervals, PR curves, histograms."""
    from metaflow.cards import Image, Markdown, Table

    from fraud_mlops.reports import (
        candidate_rows,
        comparison_rows,
        pr_curve_figure,
        score_histogram_figure,
        selection_lines,
    )

    y = data.labels["test"]
    tests = {kind: m["test"] for kind, m in evaluation.metrics.items()}
    header, rows = comparison_rows(tests, list(next(iter(tests.values()))))
    curves = dict(evaluation.family_scores)
    champion = evaluation.champion
    if champion.scored:
        curves[f"champion {champion.version}"] = champion.scores
    families = {name: entry.record() for name, entry in evaluation.families.items()}
    cand_header, cand_rows = candidate_rows(families)
    trial_rows = [
        [
            str(t["trial"]),
            t.get("family", "mlp"),
            f"{t['val_pr_auc']:.4f}",
            str(t["best_epoch"]),
            str(t["params"]),
        ]
        for t in trials
    ]
    return [
        Markdown(
            f"# Evaluation on the test split ({len(y):,} newest claims, {int(y.sum())} frauds)\n\n"
            + "\n".join(f"- {line}" for line in selection_lines(evaluation.headline()))
        ),
        Markdown("## Candidates (95 % bootstrap intervals on the test split)"),
        Table(cand_rows, headers=cand_header),
        Markdown("## Published candidate vs the yardsticks (`mlp` = the candidate)"),
        Table(rows, headers=header),
        Image.from_matplotlib(pr_curve_figure(y, curves)),
        Image.from_matplotlib(
            score_histogram_figure(y, evaluation.scores["test"], evaluation.threshold)
        ),
        Markdown("## Trials (each family's best is chosen on validation PR-AUC)"),
        Table(trial_rows, headers=["trial", "family", "val PR-AUC", "best epoch", "params"]),
    ]


def drift_card(drift: DriftResult) -> list:
    """Components of the drift card: PSI bar chart and a PSI/KS table."""
    from metaflow.cards import Image, Markdown, Table

    from fraud_mlops.reports import psi_figure

    ref = drift.reference_version
    title = (
        f"# Drift vs champion {ref}" if ref else "# Drift: test split vs this run's training split"
    )
    rows = [
        [d.feature, d.kind, f"{d.psi:.4f}", "–" if d.ks is None else f"{d.ks:.4f}", d.verdict]
        for d in drift.drifts
    ]
    return [
        Markdown(title + "\n\nPSI < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted."),
        Image.from_matplotlib(psi_figure(drift.drifts, ref or "(none: own training split)")),
        Table(rows, headers=["feature", "kind", "PSI", "KS", "verdict"]),
    ]


def summary_card(text: str) -> list:
    """The run summary, as printed at the end of every run."""
    from metaflow.cards import Markdown

    return [Markdown(f"# Run summary\n\n```\n{text}\n```")]
