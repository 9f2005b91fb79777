"""CloudWatch metrics (EMF, through Powertools) and optional X-Ray tracing for the scoring API.

Every request and every refused event writes one Embedded Metric Format document to stdout,
which CloudWatch Logs turns into metrics (no API call on the request path). Namespace
``FraudMlops`` (``POWERTOOLS_METRICS_NAMESPACE``), one dimension, ``model_version``, and:

=============  ============  ===================================================
Requests       Count         1 per request (warm-up pings are not traffic: none)
ClaimsScored   Count         claims scored in the request (0 when refused)
ClaimsFlagged  Count         of those, flagged; flag rate = ClaimsFlagged / ClaimsScored
LatencyMs      Milliseconds  time in the app, from the request to the last byte
ClientErrors   Count         1 for a 4xx answer, else 0
ServerErrors   Count         1 for a 5xx answer, else 0
=============  ============  ===================================================

The document comes from Powertools' ``AmazonCloudWatchEMFProvider``: metric names and units
go through its validation once, at start, and its ``serialize_metric_set`` builds the document
once, as a template; each request only puts in its timestamp (Powertools' own: epoch
milliseconds) and values, in the template's key order, and serialises (Powertools'
``add_metric`` re-validates on every call and ``serialize_metric_set`` rebuilds the definitions:
together about a fifth of a trivial request).
``POWERTOOLS_METRICS_DISABLED=true`` turns it off. There is no ``service`` dimension, so the
alarms and the dashboard in infra address the metrics by ``model_version`` alone.

Tracing (``POWERTOOLS_TRACE_DISABLED=false``, and Active tracing on the function) wraps each
invocation in Powertools' ``Tracer.capture_lambda_handler`` with the response and errors *not*
captured (they carry claim ids and scores), annotated with the model version.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import orjson

NAMESPACE = "FraudMlops"
DIMENSION = "model_version"
METRICS = (
    ("Requests", "Count"),
    ("ClaimsScored", "Count"),
    ("ClaimsFlagged", "Count"),
    ("LatencyMs", "Milliseconds"),
    ("ClientErrors", "Count"),
    ("ServerErrors", "Count"),
)


class RequestMetrics:
    """One EMF document per request, for one model version."""

    def __init__(
        self, namespace: str = NAMESPACE, model_version: str = "none", *, enabled: bool = True
    ) -> None:
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        # service="": no "service" dimension (POWERTOOLS_SERVICE_NAME would otherwise add one)
        self.provider = AmazonCloudWatchEMFProvider(namespace=namespace, service="")
        for name, unit in METRICS:  # Powertools' own checks of names and units, once
            self.provider.add_metric(name=name, unit=unit, value=0)
        self.units = {name: self.provider.metric_set[name]["Unit"] for name, _ in METRICS}
        self.provider.clear_metrics()
        self.dimensions = {DIMENSION: model_version}
        self.template = self._serialize([0.0] * len(METRICS), None)
        self.enabled = enabled
        # None: sys.stdout at write time, as Powertools' own print() does. On Lambda that is the
        # runtime's unbuffered stream; elsewhere each document is flushed, like a log record.
        self.stream: Any = None

    def record(self, status: int, latency_ms: float, claims: int = 0, flagged: int = 0) -> None:
        """Write the metrics of one answered request."""
        if not self.enabled:
            return
        values = (
            1.0,
            float(claims),
            float(flagged),
            float(latency_ms),
            1.0 if 400 <= status < 500 else 0.0,
            1.0 if status >= 500 else 0.0,
        )
        template = self.template
        document = dict(template)  # its key order: _aws, the dimension, the metrics
        document["_aws"] = {
            "Timestamp": int(dt.datetime.now().timestamp() * 1000),
            "CloudWatchMetrics": template["_aws"]["CloudWatchMetrics"],
        }
        for (name, _), value in zip(METRICS, values, strict=True):
            document[name] = [value]
        stream = self.stream or sys.stdout
        stream.write(orjson.dumps(document).decode() + "\n")
        stream.flush()

    def _serialize(self, values: list[float], timestamp: int | None) -> dict[str, Any]:
        """Powertools' own document for these values (the slow way: the template, and tests)."""
        metrics = {
            name: {"Unit": self.units[name], "StorageResolution": 60, "Value": [value]}
            for (name, _), value in zip(METRICS, values, strict=True)
        }
        self.provider.timestamp = timestamp
        try:
            return self.provider.serialize_metric_set(
                metrics=metrics, dimensions=self.dimensions, metadata={}
            )
        finally:
            self.provider.timestamp = None


# Replaced by configure_metrics() when the app is built; until then nothing is written.
metrics = RequestMetrics(enabled=False)


def configure_metrics(namespace: str, model_version: str | None, *, enabled: bool) -> None:
    """Point the module's :data:`metrics` at this app's model version."""
    global metrics
    metrics = RequestMetrics(namespace, model_version or "none", enabled=enabled)


def traced(handler: Any, model_version: str | None, service: str) -> Any:
    """``handler`` wrapped in an X-Ray subsegment per invocation (Powertools ``Tracer``)."""
    from aws_lambda_powertools import Tracer

    # disabled=False: the setting decided already (Powertools would also need LAMBDA_TASK_ROOT);
    # auto_patch=False: the request path calls no AWS API, and patching is process-wide.
    tracer = Tracer(service=service, disabled=False, auto_patch=False)
    annotated = model_version or "none"

    @tracer.capture_lambda_handler(capture_response=False, capture_error=False)
    def invoke(event: Any, context: Any) -> Any:
        tracer.put_annotation(key=DIMENSION, value=annotated)
        return handler(event, context)

    return invoke
