"""The search space file is validated, sampling is seeded, and selection picks the best trial."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fraud_mlops.errors import ConfigError
from fraud_mlops.search import load_search_space, search_space_from_dict, select_best

SPACE_FILE = Path(__file__).resolve().parents[1] / "flows" / "config" / "search_space.yaml"


def test_bundled_space_samples_valid_reproducible_trials_of_every_family():
    spaces = load_search_space(SPACE_FILE)
    assert spaces.families == ["mlp", "tabm", "gbdt"]
    a, b = spaces.sample(8, seed=11), spaces.sample(8, seed=11)
    assert [t.params for t in a] == [t.params for t in b]
    assert [t.family for t in a] == ["mlp"] * 3 + ["tabm"] * 3 + ["gbdt"] * 2
    assert [t.index for t in a] == list(range(8)) and len({t.seed for t in a}) == 8
    for family in spaces.families:
        first = next(t for t in a if t.family == family)
        space = spaces.spaces[family]
        assert first.params == {**space.fixed, **space.anchor}  # the anchor comes first
    assert [t.params for t in spaces.sample(8, seed=12)] != [t.params for t in a]
    for trial in a:
        config = trial.config(threads=1)
        assert config.threads == 1 and config.seed == trial.seed
        if trial.family != "gbdt":
            assert config.family == trial.family
            low, high = spaces.spaces[trial.family].space["learning_rate"]["loguniform"]
            if trial.params != {
                **spaces.spaces[trial.family].fixed,
                **spaces.spaces[trial.family].anchor,
            }:
                assert low <= config.learning_rate <= high


def test_trials_are_shared_round_robin_with_every_family_at_least_once():
    spaces = load_search_space(SPACE_FILE)
    assert spaces.counts(1) == {"mlp": 1, "tabm": 1, "gbdt": 1}
    assert spaces.counts(4) == {"mlp": 2, "tabm": 1, "gbdt": 1}
    assert spaces.counts(7) == {"mlp": 3, "tabm": 2, "gbdt": 2}
    # adding trials never changes the draws of another family
    assert [t.params for t in spaces.sample(4, 3) if t.family == "gbdt"] == [
        t.params for t in spaces.sample(3, 3) if t.family == "gbdt"
    ]


def test_the_one_family_layout_of_earlier_versions_is_an_mlp_space():
    spaces = search_space_from_dict({"anchor": {"hidden": [8]}}, "old.yaml")
    assert spaces.families == ["mlp"]
    assert spaces.sample(1, 0)[0].config().hidden == (8,)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"families": {"resnet": {}}}, "unknown family 'resnet' under families"),
        (
            {"families": {"gbdt": {"space": {"num_leafs": {"int": [4, 8]}}}}},
            r"\(families.gbdt\).*num_leafs",
        ),
        (
            {"families": {"tabm": {"anchor": {"hidden": [64]}}}},
            r"\(families.tabm\).*belong to family 'mlp'",
        ),
        (
            {"families": {"mlp": {"space": {"dropout": {"normal": [0, 1]}}}}},
            "families.mlp.space.dropout must be one of",
        ),
        ({"families": {"mlp": {}}, "fixed": {}}, "unknown top-level key"),
        ({"families": {"gbdt": {"anchor": {"max_depth": 12}}}}, "max_depth=12"),
    ],
)
def test_bad_family_spaces_name_the_key(doc, message):
    with pytest.raises(ConfigError, match=message):
        search_space_from_dict(doc, "test.yaml")


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
    space = space.spaces["mlp"]
    with pytest.raises(ConfigError, match="trials"):
        space.sample(0, seed=1)


def test_select_best_prefers_higher_then_earlier():
    assert select_best([{"val_pr_auc": 0.2}, {"val_pr_auc": 0.4}, {"val_pr_auc": 0.4}]) == 1
    assert select_best([{"val_pr_auc": float("nan")}, {"val_pr_auc": 0.1}]) == 1
    with pytest.raises(ConfigError):
        select_best([])
