"""Shared test helpers. The `cloudlet` and `cloudlet_server` fixtures come
from cloudlet's own pytest plugin (cloudlet.testing.plugin)."""

from __future__ import annotations

import pytest
from botocore.config import Config


@pytest.fixture
def raw_client(cloudlet):
    """Make a boto3 client that skips client-side validation, so a test can
    send what a careless caller would."""
    def make(service: str, **kw):
        return cloudlet.client(service, parameter_validation=False, **kw)
    return make


NO_VALIDATION = Config(parameter_validation=False)
