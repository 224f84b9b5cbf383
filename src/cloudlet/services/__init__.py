"""The services cloudlet implements, by botocore model name. Each is
imported on its first request, which keeps start-up fast."""

from __future__ import annotations

import importlib

SERVICES: dict[str, str] = {
    "iam": "cloudlet.services.iam.provider:IamService",
    "sqs": "cloudlet.services.sqs.provider:SqsService",
    "sts": "cloudlet.services.sts.provider:StsService",
}


def load_service_class(name: str):
    path = SERVICES.get(name)
    if path is None:
        return None
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)
