"""The scoring API on Kubernetes (optional, ``k8sEnabled``): Namespace, Deployment, Service.

The pods run the serving image (``Dockerfile.serving``) on port 8080 as a non-root user with a
read-only root filesystem (``/tmp`` is an emptyDir), probed on ``GET /health``. They read
``MODEL_URI`` from the models bucket like the Lambda; on EKS give them S3 access through IRSA
(``k8sRoleArn`` annotates their service account).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.config import KubernetesConfig
from infra.naming import type_token

PORT = 8080
APP = "fraud-scoring"
RUN_AS_USER = 10001  # the `serving` user of Dockerfile.serving


@dataclass(frozen=True)
class KubernetesArgs:
    prefix: str
    config: KubernetesConfig
    image: pulumi.Input[str]
    model_uri: pulumi.Input[str]
    region: str
    max_batch_size: int = 1000
    labels: dict[str, str] = field(default_factory=dict)


def _probe(path: str, initial_delay: int, period: int) -> dict:
    return {
        "http_get": {"path": path, "port": "http"},
        "initial_delay_seconds": initial_delay,
        "period_seconds": period,
        "timeout_seconds": 2,
        "failure_threshold": 3,
    }


class KubernetesServing(pulumi.ComponentResource):
    """An explicit provider (the stack's kubeconfig), Namespace, ServiceAccount, Deployment,
    Service."""

    def __init__(self, name: str, args: KubernetesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token("k8s", "Serving"), name, None, opts)
        cfg = args.config
        # Explicit, so a stray ~/.kube/config on the machine running pulumi is never used.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=cfg.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self),
        )
        opts_ = pulumi.ResourceOptions(parent=self, provider=self.provider)
        labels = {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": args.prefix}
        meta_labels = {**args.labels, **labels}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-k8s",
            metadata={"name": cfg.namespace, "labels": meta_labels},
            opts=opts_,
        )
        ns = self.namespace.metadata["name"]
        # Fixed names inside the stack's own namespace: `kubectl -n <ns> get svc/<prefix>-score`.
        workload = f"{args.prefix}-score"
        annotations = {"eks.amazonaws.com/role-arn": cfg.role_arn} if cfg.role_arn else {}
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-k8s",
            metadata={
                "name": workload,
                "namespace": ns,
                "labels": meta_labels,
                "annotations": annotations,
            },
            automount_service_account_token=bool(cfg.role_arn),  # IRSA needs the token
            opts=opts_,
        )
        container = {
            "name": "api",
            "image": args.image,
            "ports": [{"name": "http", "container_port": PORT}],
            "env": [
                {"name": "MODEL_URI", "value": args.model_uri},
                {"name": "MAX_BATCH_SIZE", "value": str(args.max_batch_size)},
                {"name": "AWS_REGION", "value": args.region},
            ],
            "resources": {
                "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory},
                "limits": {"cpu": cfg.cpu_limit, "memory": cfg.memory},
            },
            # /health answers once the app is up; it reports a missing model in its body, so
            # readiness keeps traffic off pods still starting and liveness restarts hung ones.
            "readiness_probe": _probe("/health", 3, 5),
            "liveness_probe": _probe("/health", 15, 20),
            "security_context": {
                "run_as_non_root": True,
                "run_as_user": RUN_AS_USER,
                "allow_privilege_escalation": False,
                "read_only_root_filesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "volume_mounts": [{"name": "tmp", "mount_path": "/tmp"}],
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-k8s",
            metadata={"name": workload, "namespace": ns, "labels": meta_labels},
            spec={
                "replicas": cfg.replicas,
                "selector": {"match_labels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rolling_update": {"max_unavailable": 0, "max_surge": 1},
                },
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "service_account_name": self.service_account.metadata["name"],
                        "security_context": {
                            "run_as_non_root": True,
                            "seccomp_profile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "64Mi"}}],
                    },
                },
            },
            opts=opts_,
        )
        self.service = k8s.core.v1.Service(
            f"{name}-k8s",
            metadata={"name": workload, "namespace": ns, "labels": meta_labels},
            spec={
                "type": cfg.service_type,
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "target_port": "http"}],
            },
            opts=opts_,
        )
        self.register_outputs(
            {
                "namespace": ns,
                "service_name": self.service.metadata["name"],
                "deployment_name": self.deployment.metadata["name"],
            }
        )
