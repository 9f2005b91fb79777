"""``fraud-mlops deploy``: config keys it sets, the targeted pulumi up, undo, version checks.

A stand-in ``pulumi`` on PATH keeps each config key in a file, records its calls and fails
``up`` on request (as in test_promote.py). The model store is real; the URNs and keys are
checked against the Pulumi program under its mock runtime.
"""

from __future__ import annotations

import pulumi as pulumi_sdk
import pytest

from fraud_mlops.cloud.deploy import TARGETS, target_urns
from fraud_mlops.cloud.promote import MODEL_VERSION_KEY, serving_targets

SAGEMAKER_KEY = "fraud-mlops:sagemakerEnabled"
K8S_KEY = "fraud-mlops:k8sEnabled"


def _targets(call: list[str]) -> list[str]:
    return [call[i + 1] for i, word in enumerate(call) if word == "--target"]


def _deploy(cli, *extra):
    return cli("deploy", "--stack", "dev", *extra)


def test_keys_and_component_types_match_the_pulumi_program():
    from infra.config import KEYS_BY_NAME
    from tools.pulumi_mocks import run_program
    from tools.stack_files import config_from_stack_file

    for target in TARGETS.values():
        if target.enable_key:
            assert KEYS_BY_NAME[target.enable_key.split(":", 1)[1]].kind == "bool"
    overrides = {
        "sagemakerEnabled": True,
        "k8sEnabled": True,
        "k8sKubeconfig": pulumi_sdk.Output.secret("apiVersion: v1"),
    }
    run = run_program(config_from_stack_file("dev", overrides=overrides))
    registered = {(r.type, r.name) for r in run.resources}
    for target in TARGETS.values():
        assert (target.component_type, "fraud-mlops-dev") in registered, target.name
    repo_urn = target_urns("dev", TARGETS["sagemaker"], True)[-1]
    repo_type, repo_name = repo_urn.split("::")[-2:]
    assert (repo_type, repo_name) in registered


def test_sagemaker_is_enabled_and_only_its_component_is_updated(pulumi, cli):
    code, out, err = _deploy(cli, "--target", "sagemaker")
    assert code == 0, err
    get, set_, up = pulumi()
    assert get == ["config", "get", SAGEMAKER_KEY, "--stack", "dev"]
    assert set_ == ["config", "set", SAGEMAKER_KEY, "true", "--stack", "dev"]
    assert up[:2] == ["up", "--stack"] and "--target-dependents" in up
    assert _targets(up) == [
        "urn:pulumi:dev::fraud-mlops::fraud:aws:SageMakerServing::fraud-mlops-dev",
        "urn:pulumi:dev::fraud-mlops::fraud:aws:SageMakerServing$**",
        "urn:pulumi:dev::fraud-mlops::aws:ecr/repository:Repository::fraud-mlops-dev-serving",
    ]
    assert pulumi.config(SAGEMAKER_KEY) == "true"
    assert pulumi.config(MODEL_VERSION_KEY) is None  # the version was not touched
    assert "stack dev: sagemaker deployed (model version unchanged)" in out


def test_k8s_with_its_own_image_does_not_target_the_serving_repository(pulumi, cli):
    pulumi.preset("fraud-mlops:k8sImage", "ghcr.io/acme/scoring:1.2")
    pulumi.preset(K8S_KEY, "true")  # already on: no set, just the targeted up
    code, _, err = _deploy(cli, "--target", "k8s")
    assert code == 0, err
    calls = pulumi()
    assert [c[:2] for c in calls] == [["config", "get"], ["config", "get"], ["up", "--stack"]]
    assert _targets(calls[-1]) == [
        "urn:pulumi:dev::fraud-mlops::fraud:k8s:Serving::fraud-mlops-dev",
        "urn:pulumi:dev::fraud-mlops::fraud:k8s:Serving$**",
    ]


def test_a_version_is_checked_set_and_rolled_to_every_enabled_target(world, pulumi, cli):
    pulumi.preset(K8S_KEY, "true")
    pulumi.preset("fraud-mlops:k8sImage", "ghcr.io/acme/scoring:1.2")
    version = world.version("run1")
    code, out, err = _deploy(
        cli, "--target", "sagemaker", "--version", version,
        "--stack-outputs", str(world.outputs_file),
    )  # fmt: skip
    assert code == 0, err
    assert f"{version}: gate passed, checksums verified" in out
    assert f"stack dev: sagemaker deployed, serving {version}" in out
    assert pulumi.config(MODEL_VERSION_KEY) == version
    assert pulumi.config(SAGEMAKER_KEY) == "true"
    targets = _targets(pulumi()[-1])
    assert targets[:2] == serving_targets("dev")  # the Lambda serves modelVersion too
    assert "urn:pulumi:dev::fraud-mlops::fraud:aws:SageMakerServing::fraud-mlops-dev" in targets
    assert "urn:pulumi:dev::fraud-mlops::fraud:k8s:Serving::fraud-mlops-dev" in targets
    assert targets[-1].endswith("aws:ecr/repository:Repository::fraud-mlops-dev-serving")


def test_a_version_whose_gate_failed_is_refused_before_any_change(world, pulumi, cli):
    code, _, err = _deploy(
        cli, "--target", "k8s", "--version", world.version("run3"),
        "--stack-outputs", str(world.outputs_file),
    )  # fmt: skip
    assert code == 1 and "quality gate did not pass" in err
    assert pulumi() == []


def test_a_failed_up_puts_every_key_back(world, pulumi, cli, monkeypatch):
    pulumi.preset(MODEL_VERSION_KEY, world.version("run2"))
    monkeypatch.setenv("FAKE_PULUMI_UP_EXIT", "1")
    code, _, err = _deploy(
        cli, "--target", "k8s", "--version", world.version("run1"),
        "--stack-outputs", str(world.outputs_file),
    )  # fmt: skip
    assert code == 1
    assert "deploying k8s on dev: `pulumi up --stack` (exit 1) failed" in err
    assert "the stack config is back as it was" in err
    assert pulumi.config(K8S_KEY) is None  # was unset: removed again
    assert pulumi.config(MODEL_VERSION_KEY) == world.version("run2")
    assert pulumi()[-2:] == [
        ["config", "set", MODEL_VERSION_KEY, world.version("run2"), "--stack", "dev"],
        ["config", "rm", K8S_KEY, "--stack", "dev"],
    ]


def test_lambda_deploy_targets_the_lambda_and_sets_nothing(pulumi, cli):
    code, _, err = _deploy(cli, "--target", "lambda")
    assert code == 0, err
    (up,) = pulumi()
    assert _targets(up) == serving_targets("dev")


def test_dry_run_reads_config_but_changes_nothing(pulumi, cli):
    code, out, _ = _deploy(cli, "--target", "k8s", "--dry-run")
    assert code == 0
    assert f"pulumi config set {K8S_KEY} true --stack dev" in out
    assert "urn:pulumi:dev::fraud-mlops::fraud:k8s:Serving$**" in out
    assert all(c[:2] == ["config", "get"] for c in pulumi())
    assert pulumi.config(K8S_KEY) is None


def test_an_unknown_target_is_a_usage_error(cli, capsys):
    with pytest.raises(SystemExit) as exc:
        _deploy(cli, "--target", "ecs")
    assert exc.value.code == 2
    assert "invalid choice: 'ecs'" in capsys.readouterr().err
