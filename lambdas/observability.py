"""The Powertools Logger, Metrics and Tracer every handler shares (configured once)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

from lambdas.env import POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME

SERVICE = os.environ.get(POWERTOOLS_SERVICE_NAME, "gwlbd-lifecycle")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get(POWERTOOLS_METRICS_NAMESPACE, "gwlbd"), service=SERVICE)
tracer = Tracer(service=SERVICE)
