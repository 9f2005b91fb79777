"""``fraud-mlops promote``: refusals, the pulumi commands it runs, rollback and undo.

The pulumi CLI is not installed here: a stand-in ``pulumi`` on PATH records its arguments, keeps
the config value in a file, and fails ``up`` on request (or publishes a Lambda version on moto,
``live_stack``). The model store is real.
"""

from __future__ import annotations

import pytest

from fraud_mlops.cloud.promote import MODEL_VERSION_KEY, serving_targets
from fraud_mlops.store import ModelStore
from tests.support.release_world import MODEL


def _promote(cli, world, *extra):
    return cli("promote", "--stack", "dev", "--stack-outputs", str(world.outputs_file), *extra)


def _targets(call: list[str]) -> list[str]:
    return [call[i + 1] for i, word in enumerate(call) if word == "--target"]


def test_promote_serves_the_champion_through_a_targeted_pulumi_up(world, pulumi, cli, live_stack):
    code, out, err = _promote(cli, world, "--no-canary")  # canaries: test_promote_canary.py
    assert code == 0, err
    champion = world.version("run2")
    get, set_, up = pulumi()
    assert get == ["config", "get", MODEL_VERSION_KEY, "--stack", "dev"]
    assert set_ == ["config", "set", MODEL_VERSION_KEY, champion, "--stack", "dev"]
    assert up[:4] == ["up", "--stack", "dev", "--yes"] and "--target-dependents" in up
    assert _targets(up) == serving_targets("dev")
    assert f"stack dev serves {MODEL}/{champion} (was champion)" in out
    assert pulumi.config(MODEL_VERSION_KEY) == champion
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == champion  # unchanged


def test_rollback_to_an_older_version_moves_the_champion_back(world, pulumi, cli, live_stack):
    assert _promote(cli, world, "--no-canary")[0] == 0
    old = world.version("run1")
    code, out, err = _promote(cli, world, "--version", old, "--no-canary")
    assert code == 0, err
    assert "rollback on dev" in err
    assert pulumi.config(MODEL_VERSION_KEY) == old
    pointer = ModelStore(world.store_uri).champion(MODEL)
    assert pointer["version"] == old and pointer["previous_version"] == world.version("run2")
    assert pointer["gate"]["passed"] is True
    assert f"champion pointer: {world.version('run2')} -> {old}" in out


def test_a_version_whose_gate_failed_is_refused_before_any_change(world, pulumi, cli):
    code, _, err = _promote(cli, world, "--version", world.version("run3"))
    assert code == 1
    assert "quality gate did not pass" in err and "FAIL: test PR-AUC" in err
    assert pulumi() == []


def test_a_version_whose_files_do_not_verify_is_refused(world, pulumi, cli):
    from pathlib import Path

    weights = Path(world.store_uri) / MODEL / world.version("run1") / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:-8] + b"tampered")
    code, _, err = _promote(cli, world, "--version", world.version("run1"))
    assert code == 1 and "do not verify" in err and "weights.npz" in err
    assert pulumi() == []


def test_an_unknown_version_is_a_usage_error(world, pulumi, cli):
    code, _, err = _promote(cli, world, "--version", "20990101T000000Z-none")
    assert code == 2 and "is not in the model store" in err and world.version("run2") in err
    assert pulumi() == []


def test_a_failed_pulumi_up_restores_the_config_and_keeps_the_champion(
    world, pulumi, cli, monkeypatch
):
    pulumi.preset(MODEL_VERSION_KEY, world.version("run1"))
    monkeypatch.setenv("FAKE_PULUMI_UP_EXIT", "1")
    code, _, err = _promote(cli, world)
    assert code == 1
    assert f"{MODEL_VERSION_KEY} is back to {world.version('run1')}" in err
    assert pulumi.config(MODEL_VERSION_KEY) == world.version("run1")
    assert [c[:2] for c in pulumi()] == [["config", "get"], ["config", "set"], ["up", "--stack"],
                                         ["config", "set"]]  # fmt: skip
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == world.version("run2")


def test_a_failed_first_promotion_removes_the_key_it_set(world, pulumi, cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_UP_EXIT", "3")
    code, _, err = _promote(cli, world)
    assert code == 1 and "back to unset (champion)" in err
    assert pulumi()[-1] == ["config", "rm", MODEL_VERSION_KEY, "--stack", "dev"]
    assert pulumi.config(MODEL_VERSION_KEY) is None


def test_dry_run_checks_and_prints_without_calling_pulumi(world, pulumi, cli):
    code, out, _ = _promote(cli, world, "--dry-run")
    assert code == 0
    assert f"pulumi config set {MODEL_VERSION_KEY} {world.version('run2')} --stack dev" in out
    assert "pulumi up --stack dev --yes" in out and serving_targets("dev")[1] in out
    assert pulumi() == []


def test_missing_pulumi_cli_is_a_clear_error(world, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    code, _, err = _promote(cli, world)
    assert code == 2 and "`pulumi` CLI is not on PATH" in err


def test_the_key_and_targets_match_the_pulumi_program():
    from infra.config import KEYS_BY_NAME, NAMESPACE
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    namespace, key = MODEL_VERSION_KEY.split(":")
    assert namespace == NAMESPACE and KEYS_BY_NAME[key].default == "champion"
    run = run_program(config_from_stack_file("dev", overrides={"modelVersion": "v9"}))
    assert run.outputs["model_uri"].endswith(f"/{MODEL}/v9")
    component, function = serving_targets("dev")
    c_type, c_name = component.split("::")[2:]
    assert run.one(c_type, c_name)  # the serving component, as the program names it
    f_type, f_name = function.split("::")[2:]
    assert f_type.split("$") == [c_type, "aws:lambda/function:Function"]  # a child of it
    assert run.one(f_type.split("$")[-1], f_name)  # the Lambda is named as the URN says


def _promote_local(cli, world, monkeypatch, *extra):
    monkeypatch.setenv("MODEL_STORE_URI", world.store_uri)
    monkeypatch.setenv("LAKEHOUSE_URI", world.lakehouse_uri)
    return cli("promote", "--local", *extra)


def test_local_promotion_moves_the_champion_that_serve_uses(world, pulumi, cli, monkeypatch):
    old = world.version("run1")
    code, out, err = _promote_local(cli, world, monkeypatch, "--version", old)
    assert code == 0, err
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == old
    assert f"{MODEL}/{old} is the champion now (was {world.version('run2')})" in out
    assert pulumi() == []  # no stack involved


def test_local_promotion_refuses_a_failed_gate(world, pulumi, cli, monkeypatch):
    code, _, err = _promote_local(cli, world, monkeypatch, "--version", world.version("run3"))
    assert code == 1 and "quality gate did not pass" in err
    assert ModelStore(world.store_uri).champion(MODEL)["version"] == world.version("run2")


def test_stack_and_local_are_exclusive(cli, capsys):
    with pytest.raises(SystemExit) as usage:
        cli("promote", "--local", "--stack", "dev")
    assert usage.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_promote_cites_the_latest_shadow_evidence_of_the_version(world, pulumi, cli):
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from fraud_mlops.lakehouse import Lakehouse
    from fraud_mlops.monitoring_config import Window
    from fraud_mlops.monitoring_publish import shadow_table

    version = world.version("run1")
    window = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))

    def evidence(status: str, difference: float) -> SimpleNamespace:
        shadow = {
            "champion_version": world.version("run2"), "shadow_version": version,
            "claims": 2400, "frauds": 180, "status": status, "n_resamples": 1000,
            "pr_auc": {"shadow": 0.5, "champion": 0.5 - difference, "difference": difference,
                       "low": difference - 0.02, "high": difference + 0.02},
            "precision_at_budget": {"shadow": 0.4, "champion": 0.35, "value": 0.05,
                                    "low": 0.01, "high": 0.09},
        }  # fmt: skip
        return SimpleNamespace(shadow=shadow, window=window)

    lake = Lakehouse(world.lakehouse_uri)
    older = datetime(2026, 11, 20, tzinfo=UTC)
    lake.write("monitoring/shadow", "mon-old", shadow_table(evidence("no_difference", 0.0), older))
    lake.write(
        "monitoring/shadow",
        "mon-new",
        shadow_table(evidence("shadow_better", 0.04), older.replace(day=30)),
    )
    code, out, err = _promote(cli, world, "--version", version, "--dry-run")
    assert code == 0, err
    assert f"shadow evidence for {version} (monitoring run mon-new" in out
    assert "2,400 labelled claims (180 frauds): shadow_better" in out
    assert "difference +0.040 [+0.020, +0.060] (paired bootstrap, 1000 resamples)" in out
    code, out, _ = _promote(cli, world, "--version", world.version("run2"), "--dry-run")
    assert code == 0 and "shadow evidence" not in out  # never compared in shadow: nothing to cite
