"""Hyperparameter search: a space declared in YAML, seeded trial sampling, best-trial selection.

The space file (``flows/config/search_space.yaml``) has three parts: ``fixed`` values for every
trial, an ``anchor`` configuration that is always trial 0 (so a small search never misses a
known-good setting), and ``space``: one distribution per parameter for the other trials.
Sampling is seeded, so the same seed and space give the same trials on any machine; the trials
themselves are run in parallel by the flow's ``foreach``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fraud_mlops.errors import ConfigError
from fraud_mlops.train import TrainConfig

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "int")


@dataclass(frozen=True)
class Trial:
    """One point of the search: its index, the training seed and the parameters."""

    index: int
    seed: int
    params: dict[str, Any]

    def config(self, threads: int = 1) -> TrainConfig:
        return TrainConfig.from_params(self.params, seed=self.seed, threads=threads)


@dataclass(frozen=True)
class SearchSpace:
    fixed: dict[str, Any]
    anchor: dict[str, Any]
    space: dict[str, dict[str, Any]]
    source: str = "search space"

    def sample(self, n_trials: int, seed: int) -> list[Trial]:
        """``n_trials`` trials: the anchor first, then seeded draws from ``space``."""
        if not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(f"trials must be a whole number >= 1, got {n_trials!r}")
        rng = np.random.default_rng(seed)
        trials = []
        for i in range(n_trials):
            drawn = (
                dict(self.anchor)
                if i == 0
                else {k: _draw(k, d, rng) for k, d in sorted(self.space.items())}
            )
            params = {**self.fixed, **drawn}
            trials.append(Trial(index=i, seed=int(seed) * 1000 + i, params=params))
        return trials


def _draw(name: str, dist: dict[str, Any], rng: np.random.Generator) -> Any:
    kind, arg = next(iter(dist.items()))
    if kind == "choice":
        return arg[int(rng.integers(len(arg)))]
    low, high = arg
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.integers(int(low), int(high) + 1))  # "int", inclusive


def _check_distribution(name: str, dist: Any, source: str) -> None:
    where = f"{source}: space.{name}"
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise ConfigError(
            f"{where} must be one of {{choice: [...]}}, {{uniform: [lo, hi]}}, "
            f"{{loguniform: [lo, hi]}} or {{int: [lo, hi]}}; got {dist!r}"
        )
    kind, arg = next(iter(dist.items()))
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            raise ConfigError(f"{where}: choice needs a non-empty list, got {arg!r}")
        return
    if not (isinstance(arg, list) and len(arg) == 2 and all(_is_number(v) for v in arg)):
        raise ConfigError(f"{where}: {kind} needs [low, high] numbers, got {arg!r}")
    low, high = arg
    if low > high or (kind == "loguniform" and low <= 0):
        raise ConfigError(
            f"{where}: {kind} [{low}, {high}] is empty"
            + (" or not > 0" if kind == "loguniform" else "")
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def search_space_from_dict(data: Any, source: str = "search space") -> SearchSpace:
    """Validate a parsed space; every anchor and every possible choice must be a valid config."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with fixed / anchor / space")
    unknown = sorted(set(data) - {"fixed", "anchor", "space"})
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {unknown}; use fixed, anchor and space")
    fixed, anchor, space = (data.get(k) or {} for k in ("fixed", "anchor", "space"))
    for name, section in (("fixed", fixed), ("anchor", anchor), ("space", space)):
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: {name} must be a mapping, got {section!r}")
    for name, dist in space.items():
        _check_distribution(name, dist, source)
    try:
        TrainConfig.from_params({**fixed, **anchor})
        probe = SearchSpace(fixed, anchor, space, source)
        for trial in probe.sample(4, seed=0)[1:]:  # draws must also make valid configs
            TrainConfig.from_params(trial.params)
        for name, dist in space.items():
            for value in dist.get("choice", []):
                TrainConfig.from_params({**fixed, **anchor, name: value})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: a value has the wrong type ({exc})") from None
    return SearchSpace(fixed=fixed, anchor=anchor, space=space, source=source)


def load_search_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"search config {str(path)!r} does not exist: pass a YAML file like "
            "flows/config/search_space.yaml"
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return search_space_from_dict(data, str(path))


def select_best(results: list[dict[str, Any]]) -> int:
    """Index (into ``results``) of the highest validation PR-AUC; ties go to the earlier trial."""
    if not results:
        raise ConfigError("no trial results to choose from")
    scores = [float(r["val_pr_auc"]) for r in results]
    if all(math.isnan(s) for s in scores):
        raise ConfigError("every trial has a NaN validation PR-AUC; check the data and space")
    best = max(
        range(len(scores)), key=lambda i: (-math.inf if math.isnan(scores[i]) else scores[i], -i)
    )
    return best
