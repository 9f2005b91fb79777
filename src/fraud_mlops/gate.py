"""The champion gate: may this run's candidate replace the model being served?

Both checks are on test PR-AUC, on THIS run's test claims (the champion is re-scored on the same
claims), and both read a **paired bootstrap interval** of the difference (the same resampled
claims score both models, ``confidence`` 95 % by default), not two single numbers:

* vs the champion: refuse only when the candidate is worse **with confidence** — the whole
  interval of ``candidate - champion`` lies below ``-pr_auc_tolerance``. A difference the test
  split cannot tell from noise does not block the candidate (it won on validation).
* vs the run's best gradient-boosting model (the yardstick): refuse when the whole interval of
  ``candidate - gbdt`` lies below ``-baseline_margin``. When the candidate *is* that GBDT, the
  check passes by construction: a team whose data suits trees still gets a model.

Without intervals (a caller that passes none) the checks fall back to the point figures. The
decision carries one human-readable reason per check plus any warnings (e.g. a test split with
too few frauds to judge), for the card, the run summary and ``champion.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fraud_mlops.errors import ConfigError


@dataclass(frozen=True)
class GatePolicy:
    """How much worse than the champion / the best GBDT a candidate may be and still win."""

    pr_auc_tolerance: float = 0.005
    baseline_margin: float = 0.01
    confidence: float = 0.95

    def __post_init__(self) -> None:
        for name in ("pr_auc_tolerance", "baseline_margin"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{name} must be a PR-AUC difference between 0 and 1, got {value}: "
                    f"e.g. {flag} 0.01"
                )
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"confidence must be in [0.5, 1), got {self.confidence}: e.g. 0.95")


@dataclass(frozen=True)
class Comparison:
    """``candidate - other`` on the same test claims: point difference and its interval."""

    difference: float
    low: float | None = None
    high: float | None = None

    def text(self, confidence: float) -> str:
        if self.low is None or self.high is None:
            return f"{self.difference:+.4f}"
        return f"{self.difference:+.4f} [{confidence:.0%} CI {self.low:+.4f}, {self.high:+.4f}]"

    def worse_beyond(self, allowance: float) -> bool:
        """True when the candidate is worse than ``-allowance`` with confidence (or, without
        an interval, by its point figure)."""
        bound = self.difference if self.high is None else self.high
        return bound < -allowance - 1e-12  # inclusive boundary, whatever the float rounding


@dataclass(frozen=True)
class GateDecision:
    """The outcome: ``passed`` plus the figures and reasons behind it."""

    passed: bool
    reasons: list[str]
    candidate_pr_auc: float
    baseline_pr_auc: float | None
    champion_pr_auc: float | None
    champion_version: str | None
    policy: dict[str, float] = field(default_factory=dict)
    vs_champion: dict[str, Any] | None = None
    vs_baseline: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    candidate_pr_auc: float,
    baseline_pr_auc: float | None,
    champion_pr_auc: float | None,
    policy: GatePolicy,
    champion_version: str | None = None,
    champion_problem: str | None = None,
    *,
    vs_champion: Comparison | None = None,
    vs_baseline: Comparison | None = None,
    candidate_is_baseline: bool = False,
    warnings: list[str] | None = None,
) -> GateDecision:
    """Apply the gate.

    Args:
        candidate_pr_auc: this run's candidate, test PR-AUC.
        baseline_pr_auc: the run's best GBDT, same test split (``None``: no GBDT was trained).
        champion_pr_auc: the current champion re-scored on the same test split; ``None`` when
            there is no champion (the first model only has to pass the GBDT check).
        policy: tolerance, margin and confidence.
        champion_version: the champion's version, for the reasons.
        champion_problem: set when a champion exists but could not be compared (e.g. it was
            trained on a different schema); the gate then fails with this reason.
        vs_champion, vs_baseline: paired-bootstrap comparisons (point figures when absent).
        candidate_is_baseline: the candidate is the run's best GBDT itself.
        warnings: notes shown with the decision (they never change it).
    """
    conf = policy.confidence
    checks: list[tuple[bool, str]] = []
    if champion_problem:
        checks.append(
            (False, f"champion {champion_version} cannot be compared: {champion_problem}")
        )
    elif champion_pr_auc is None:
        checks.append((True, "no champion yet: this model can become the first one"))
    else:
        cmp = vs_champion or Comparison(candidate_pr_auc - champion_pr_auc)
        worse = cmp.worse_beyond(policy.pr_auc_tolerance)
        verdict = (
            f"worse than the champion beyond the tolerance {policy.pr_auc_tolerance:g} "
            "with confidence"
            if worse
            else f"not worse than the champion beyond the tolerance {policy.pr_auc_tolerance:g}"
        )
        checks.append(
            (
                not worse,
                f"test PR-AUC {candidate_pr_auc:.4f} vs champion {champion_version} "
                f"{champion_pr_auc:.4f}: difference {cmp.text(conf)}, {verdict}",
            )
        )
    if candidate_is_baseline:
        checks.append((True, "the candidate is this run's best GBDT (the yardstick itself)"))
    elif baseline_pr_auc is None:
        checks.append((True, "no GBDT in this run's search: the yardstick check is skipped"))
    else:
        cmp = vs_baseline or Comparison(candidate_pr_auc - baseline_pr_auc)
        worse = cmp.worse_beyond(policy.baseline_margin)
        checks.append(
            (
                not worse,
                f"test PR-AUC {candidate_pr_auc:.4f} vs best GBDT {baseline_pr_auc:.4f}: "
                f"difference {cmp.text(conf)}, "
                + (
                    f"worse beyond the margin {policy.baseline_margin:g} with confidence"
                    if worse
                    else f"within the margin {policy.baseline_margin:g} or better"
                ),
            )
        )
    return GateDecision(
        passed=all(ok for ok, _ in checks),
        reasons=[("pass: " if ok else "FAIL: ") + text for ok, text in checks],
        candidate_pr_auc=float(candidate_pr_auc),
        baseline_pr_auc=None if baseline_pr_auc is None else float(baseline_pr_auc),
        champion_pr_auc=None if champion_pr_auc is None else float(champion_pr_auc),
        champion_version=champion_version,
        policy=asdict(policy),
        vs_champion=None if vs_champion is None else asdict(vs_champion),
        vs_baseline=None if vs_baseline is None else asdict(vs_baseline),
        warnings=list(warnings or []),
    )
