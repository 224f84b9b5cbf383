"""Fixtures shared by the service tests."""

from __future__ import annotations

import pytest

from tests.services.sqs_clients import QueryModelDir, sqs_client


@pytest.fixture(scope="module")
def query_models():
    models = QueryModelDir()
    yield models
    models.close()


@pytest.fixture(params=["json", "query"])
def sqs(request, cloudlet, query_models):
    client = sqs_client(cloudlet.endpoint, request.param, query_models)
    client.protocol = request.param
    return client
