"""Shared test helpers. The `cloudlet` and `cloudlet_server` fixtures come
from cloudlet's own pytest plugin (cloudlet.testing.plugin)."""

from __future__ import annotations

import os

# awscrt is installed (cloudlet computes S3's CRC32C / CRC64NVME with it),
# and botocore then signs with CRT's signer. Most users' boto3 has no CRT:
# test that default client (test_crt_signing.py covers the CRT signer).
os.environ.setdefault("BOTO_DISABLE_CRT", "true")

import pytest  # noqa: E402
from botocore.config import Config  # noqa: E402
from hypothesis import settings  # noqa: E402

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
