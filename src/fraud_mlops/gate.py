"""The champion gate: may this run's model replace the one being served?

Two conditions, both on test PR-AUC measured on THIS run's test split (the champion is re-scored
on the same claims, so the comparison is like for like):

* ``candidate >= champion - pr_auc_tolerance`` (skipped when there is no champion yet), and
* ``candidate >= baseline - baseline_margin`` (the MLP must earn its complexity).

The decision carries one human-readable reason per check, for the card, the run summary and the
``champion.json`` pointer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fraud_mlops.errors import ConfigError


@dataclass(frozen=True)
class GatePolicy:
    """How much worse than the champion / the baseline a candidate may be and still win."""

    pr_auc_tolerance: float = 0.005
    baseline_margin: float = 0.01

    def __post_init__(self) -> None:
        for name in ("pr_auc_tolerance", "baseline_margin"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{name} must be a PR-AUC difference between 0 and 1, got {value}: "
                    f"e.g. {flag} 0.01"
                )


@dataclass(frozen=True)
class GateDecision:
    """The outcome: ``passed`` plus the figures and reasons behind it."""

    passed: bool
    reasons: list[str]
    candidate_pr_auc: float
    baseline_pr_auc: float
    champion_pr_auc: float | None
    champion_version: str | None
    policy: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    candidate_pr_auc: float,
    baseline_pr_auc: float,
    champion_pr_auc: float | None,
    policy: GatePolicy,
    champion_version: str | None = None,
    champion_problem: str | None = None,
) -> GateDecision:
    """Apply the gate.

    Args:
        candidate_pr_auc: this run's MLP, test PR-AUC.
        baseline_pr_auc: the gradient-boosting baseline, same test split.
        champion_pr_auc: the current champion re-scored on the same test split; ``None`` when
            there is no champion (the first model only has to beat the baseline check).
        policy: tolerance and margin.
        champion_version: the champion's version, for the reasons.
        champion_problem: set when a champion exists but could not be compared (e.g. it was
            trained on a different schema); the gate then fails with this reason.
    """
    checks: list[tuple[bool, str]] = []
    if champion_problem:
        checks.append(
            (False, f"champion {champion_version} cannot be compared: {champion_problem}")
        )
    elif champion_pr_auc is None:
        checks.append((True, "no champion yet: this model can become the first one"))
    else:
        floor = champion_pr_auc - policy.pr_auc_tolerance
        ok = candidate_pr_auc >= floor
        checks.append(
            (
                ok,
                f"test PR-AUC {candidate_pr_auc:.4f} {'>=' if ok else '<'} champion "
                f"{champion_version} {champion_pr_auc:.4f} - tolerance "
                f"{policy.pr_auc_tolerance:g} = {floor:.4f}",
            )
        )
    floor = baseline_pr_auc - policy.baseline_margin
    ok = candidate_pr_auc >= floor
    checks.append(
        (
            ok,
            f"test PR-AUC {candidate_pr_auc:.4f} {'>=' if ok else '<'} baseline "
            f"{baseline_pr_auc:.4f} - margin {policy.baseline_margin:g} = {floor:.4f}",
        )
    )
    return GateDecision(
        passed=all(ok for ok, _ in checks),
        reasons=[("pass: " if ok else "FAIL: ") + text for ok, text in checks],
        candidate_pr_auc=float(candidate_pr_auc),
        baseline_pr_auc=float(baseline_pr_auc),
        champion_pr_auc=None if champion_pr_auc is None else float(champion_pr_auc),
        champion_version=champion_version,
        policy=asdict(policy),
    )
