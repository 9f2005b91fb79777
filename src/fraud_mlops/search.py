"""Hyperparameter search: a space per model family in YAML, seeded trial sampling, selection.

The space file (``flows/config/search_space.yaml``) has one section per family under
``families:`` (``mlp``, ``tabm``, ``gbdt``). Each section has three parts: ``fixed`` values for
every trial of the family, an ``anchor`` configuration that is always its first trial (so a
small search never misses a known-good setting), and ``space``: one distribution per parameter
for the other trials. Leave a family out to skip it. A file without ``families:`` (the old
layout) is one ``mlp`` section. Sampling is seeded, so the same seed and space give the same
trials on any machine; the flow's ``foreach`` runs the trials of all families side by side.
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
FAMILIES = ("mlp", "tabm", "gbdt")


def config_class(family: str) -> Any:
    """The hyperparameter class of a family: ``TrainConfig`` (neural) or ``GbdtConfig``."""
    if family == "gbdt":
        from fraud_mlops.gbdt import GbdtConfig

        return GbdtConfig
    return TrainConfig


def _config(family: str, params: dict[str, Any], **overrides: Any) -> Any:
    if family == "gbdt":
        return config_class(family).from_params(params, **overrides)
    return TrainConfig.from_params({**params, "family": family}, **overrides)


@dataclass(frozen=True)
class Trial:
    """One point of the search: its index, family, training seed and parameters."""

    index: int
    seed: int
    params: dict[str, Any]
    family: str = "mlp"

    def config(self, threads: int = 1) -> Any:
        """The family's config object (``TrainConfig`` or ``GbdtConfig``) for this trial."""
        return _config(self.family, self.params, seed=self.seed, threads=threads)

    @property
    def name(self) -> str:
        return f"{self.family}-{self.index}"


@dataclass(frozen=True)
class SearchSpace:
    """One family's space: fixed values, the anchor trial and the distributions."""

    fixed: dict[str, Any]
    anchor: dict[str, Any]
    space: dict[str, dict[str, Any]]
    source: str = "search space"
    family: str = "mlp"

    def sample(self, n_trials: int, seed: int, first_index: int = 0) -> list[Trial]:
        """``n_trials`` trials: the anchor first, then seeded draws from ``space``."""
        if not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(f"trials must be a whole number >= 1, got {n_trials!r}")
        # One stream per family, so adding a family does not change another family's draws.
        offset = FAMILIES.index(self.family) if self.family in FAMILIES else 0
        rng = np.random.default_rng([int(seed), offset])
        trials = []
        for i in range(n_trials):
            drawn = (
                dict(self.anchor)
                if i == 0
                else {k: _draw(k, d, rng) for k, d in sorted(self.space.items())}
            )
            params = {**self.fixed, **drawn}
            index = first_index + i
            trials.append(
                Trial(index=index, seed=int(seed) * 1000 + index, params=params, family=self.family)
            )
        return trials


@dataclass(frozen=True)
class FamilySpaces:
    """The search spaces of every family in the file, in the file's order."""

    spaces: dict[str, SearchSpace]
    source: str = "search space"

    @property
    def families(self) -> list[str]:
        return list(self.spaces)

    def counts(self, n_trials: int) -> dict[str, int]:
        """How ``n_trials`` are shared: round-robin in file order, at least one per family."""
        if not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(f"trials must be a whole number >= 1, got {n_trials!r}")
        names = self.families
        counts = dict.fromkeys(names, 1)
        for i in range(max(0, n_trials - len(names))):
            counts[names[i % len(names)]] += 1
        return counts

    def sample(self, n_trials: int, seed: int) -> list[Trial]:
        """``n_trials`` trials in total (see :meth:`counts`); indices run across families."""
        out: list[Trial] = []
        for name, count in self.counts(n_trials).items():
            out += self.spaces[name].sample(count, seed, first_index=len(out))
        return out


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


def _check_distribution(name: str, dist: Any, source: str, prefix: str = "") -> None:
    where = f"{source}: {prefix}space.{name}"
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


def search_space_from_dict(data: Any, source: str = "search space") -> FamilySpaces:
    """Validate a parsed file; every anchor and every possible choice must be a valid config.

    Raises:
        ConfigError: naming the key at fault, e.g. ``families.tabm.space.depth``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with families: {{mlp, tabm, gbdt}}")
    if "families" not in data:  # the one-family layout of earlier versions
        return FamilySpaces({"mlp": _family_space(data, "mlp", source, "")}, source)
    extra = sorted(set(data) - {"families"})
    if extra:
        raise ConfigError(f"{source}: unknown top-level key(s) {extra}; only families: is read")
    families = data["families"]
    if not isinstance(families, dict) or not families:
        raise ConfigError(
            f"{source}: families must map family names ({', '.join(FAMILIES)}) "
            "to their search spaces"
        )
    unknown = [name for name in families if name not in FAMILIES]
    if unknown:
        raise ConfigError(
            f"{source}: unknown family {unknown[0]!r} under families; use {', '.join(FAMILIES)}"
        )
    return FamilySpaces(
        {
            name: _family_space(section, name, source, f"families.{name}.")
            for name, section in families.items()
        },
        source,
    )


def _family_space(data: Any, family: str, source: str, where: str) -> SearchSpace:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: {where or 'the file'} must be a mapping with fixed / anchor / space"
        )
    unknown = sorted(set(data) - {"fixed", "anchor", "space"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown section(s) {[where + u for u in unknown]}; use fixed, anchor "
            "and space"
        )
    fixed, anchor, space = (data.get(k) or {} for k in ("fixed", "anchor", "space"))
    for name, section in (("fixed", fixed), ("anchor", anchor), ("space", space)):
        if not isinstance(section, dict):
            raise ConfigError(f"{source}: {where}{name} must be a mapping, got {section!r}")
    for name, dist in space.items():
        _check_distribution(name, dist, source, where)
    try:
        _config(family, {**fixed, **anchor})
        probe = SearchSpace(fixed, anchor, space, source, family)
        for trial in probe.sample(4, seed=0)[1:]:  # draws must also make valid configs
            _config(family, trial.params)
        for name, dist in space.items():
            for value in dist.get("choice", []):
                _config(family, {**fixed, **anchor, name: value})
    except ConfigError as exc:
        section = f" ({where.rstrip('.')})" if where else ""
        raise ConfigError(f"{source}{section}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {where}a value has the wrong type ({exc})") from None
    return SearchSpace(fixed=fixed, anchor=anchor, space=space, source=source, family=family)


def load_search_space(path: str | Path) -> FamilySpaces:
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
