"""Delivery helpers: Step Functions trigger/wait, Databricks run/inspect, notifications.

Each submodule talks to one service through its official client (boto3, databricks-sdk, stdlib
HTTP/SMTP) and imports it inside functions, so ``fraud-mlops --help`` stays instant.
"""

from __future__ import annotations

from fraud_mlops.errors import FraudMlopsError


class CloudError(FraudMlopsError):
    """A cloud call failed for a reason the user can fix (name, permissions, configuration)."""
