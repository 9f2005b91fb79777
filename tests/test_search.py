"""The search space file is validated, sampling is seeded, and selection picks the best trial."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fraud_mlops.errors import ConfigError
from fraud_mlops.search import load_search_space, search_space_from_dict, select_best

SPACE_FILE = Path(__file__).resolve().parents[1] / "flows" / "config" / "search_space.yaml"


def test_bundled_space_samples_valid_reproducible_trials():
    space = load_search_space(SPACE_FILE)
    a, b = space.sample(6, seed=11), space.sample(6, seed=11)
    assert [t.params for t in a] == [t.params for t in b]
    assert a[0].params == {**space.fixed, **space.anchor}  # the anchor is always trial 0
    assert [t.params for t in space.sample(6, seed=12)][1:] != [t.params for t in a][1:]
    assert len({t.seed for t in a}) == 6
    for trial in a:
        config = trial.config(threads=1)
        assert config.threads == 1 and config.seed == trial.seed
        low, high = space.space["learning_rate"]["loguniform"]
        if trial.index:
            assert low <= config.learning_rate <= high


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"space": {"dropout": {"normal": [0, 1]}}}, "must be one of"),
        ({"space": {"dropout": {"uniform": [0.5, 0.1]}}}, "is empty"),
        ({"space": {"learning_rate": {"loguniform": [0, 1]}}}, "not > 0"),
        ({"space": {"loss": {"choice": ["bce", "hinge"]}}}, "loss='hinge'"),
        ({"space": {"dropot": {"uniform": [0, 0.3]}}}, "unknown training parameter"),
        ({"anchor": {"batch_size": 0}}, "batch_size=0"),
        ({"extra": {}}, "unknown section"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_spaces_are_refused_with_the_reason(doc, message):
    with pytest.raises(ConfigError, match=message):
        search_space_from_dict(doc, "test.yaml")


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_search_space(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("space: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_search_space(bad)


def test_trials_must_be_positive():
    space = search_space_from_dict(yaml.safe_load(SPACE_FILE.read_text()))
    with pytest.raises(ConfigError, match="trials"):
        space.sample(0, seed=1)


def test_select_best_prefers_higher_then_earlier():
    assert select_best([{"val_pr_auc": 0.2}, {"val_pr_auc": 0.4}, {"val_pr_auc": 0.4}]) == 1
    assert select_best([{"val_pr_auc": float("nan")}, {"val_pr_auc": 0.1}]) == 1
    with pytest.raises(ConfigError):
        select_best([])
