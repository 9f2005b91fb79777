"""Kubernetes serving: off by default; when on, an explicit provider and a hardened Deployment."""

from __future__ import annotations

import pulumi
import pytest

from fraud_mlops.errors import ConfigError
from tools.pulumi_mocks import run_program
from tools.stack_files import config_from_stack_file

KUBECONFIG = "apiVersion: v1\nkind: Config\n"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"


@pytest.fixture(scope="module")
def kube():
    overrides = {
        "k8sEnabled": True,
        "k8sKubeconfig": pulumi.Output.secret(KUBECONFIG),
        "k8sReplicas": 3,
        "servingImageTag": "v7",
        "k8sRoleArn": "arn:aws:iam::123456789012:role/scoring-irsa",
    }
    return run_program(config_from_stack_file("dev", overrides=overrides))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_off_by_default_adds_nothing(build, stack):
    run = build(stack)
    assert not [r for r in run.resources if "kubernetes" in r.type or "k8s" in r.type]
    assert "k8s_service_name" not in run.outputs


def test_explicit_provider_takes_the_kubeconfig_as_a_secret(kube):
    (provider,) = kube.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == KUBECONFIG
    assert "kubeconfig" in provider.secret_inputs
    for r in kube.resources:
        if r.type.startswith("kubernetes:"):
            assert "pulumi:providers:kubernetes::fraud-mlops-dev-k8s" in r.provider, r.type


def _pod(kube) -> dict:
    return kube.one(DEPLOYMENT, "fraud-mlops-dev-k8s").inputs["spec"]["template"]["spec"]


def test_deployment_runs_the_serving_image_with_the_stack_model(kube):
    spec = kube.one(DEPLOYMENT, "fraud-mlops-dev-k8s").inputs["spec"]
    assert spec["replicas"] == 3
    (container,) = _pod(kube)["containers"]
    assert container["image"] == f"{kube.outputs['serving_repository_url']}:v7"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_URI"] == f"s3://{kube.outputs['models_bucket']}/claims-fraud/champion"
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_probes_hit_health_on_the_serving_port(kube):
    (container,) = _pod(kube)["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_pods_run_non_root_with_a_read_only_root_and_a_tmp_volume(kube):
    pod = _pod(kube)
    (container,) = pod["containers"]
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]


def test_service_is_cluster_ip_and_targets_the_pods(kube):
    service = kube.one(SERVICE, "fraud-mlops-dev-k8s").inputs
    deployment = kube.one(DEPLOYMENT, "fraud-mlops-dev-k8s").inputs
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert kube.outputs["k8s_service_name"] == "fraud-mlops-dev-score"
    account = kube.one("kubernetes:core/v1:ServiceAccount", "fraud-mlops-dev-k8s").inputs
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/scoring-irsa"
    }


def test_an_explicit_image_skips_the_serving_repository(build):
    run = build(
        "dev", k8sEnabled=True, k8sKubeconfig=KUBECONFIG, k8sImage="ghcr.io/acme/scoring:1.2"
    )
    (container,) = run.one(DEPLOYMENT, "fraud-mlops-dev-k8s").inputs["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == "ghcr.io/acme/scoring:1.2"
    assert "serving_repository_url" not in run.outputs


def test_bad_kubernetes_config_is_reported_all_at_once():
    with pytest.raises(ConfigError) as err:
        config_from_stack_file(
            "dev",
            overrides={"k8sEnabled": True, "k8sMemory": "lots", "k8sServiceType": "Ingress"},
        )
    text = str(err.value)
    assert "k8sKubeconfig is required" in text
    assert "k8sMemory='lots'" in text and "k8sServiceType='Ingress'" in text
