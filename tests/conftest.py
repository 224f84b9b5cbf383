"""Shared test helpers. The `cloudlet` and `cloudlet_server` fixtures come
from cloudlet's own pytest plugin (cloudlet.testing.plugin)."""

from __future__ import annotations

import os

import pytest
from botocore.config import Config
from hypothesis import settings

# CI explores the same examples every run (a red build is reproducible);
# HYPOTHESIS_PROFILE=deep explores far more, at random, for local hunting.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("deep", max_examples=5000, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def raw_client(cloudlet):
    """Make a boto3 client that skips client-side validation, so a test can
    send what a careless caller would."""
    def make(service: str, **kw):
        return cloudlet.client(service, parameter_validation=False, **kw)
    return make


NO_VALIDATION = Config(parameter_validation=False)
