"""boto3 SQS clients for both wire protocols: boto3's own (JSON) and, for
the query protocol older SDKs speak, boto3 driven by the last query-protocol
SQS model botocore shipped (tests/unit/data/sqs-query-2012-11-05.json)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import boto3
import botocore.session
from botocore.config import Config

OLD_MODEL = Path(__file__).resolve().parents[1] / "unit" / "data" / "sqs-query-2012-11-05.json"


class QueryModelDir:
    """A botocore data directory holding only the old query model."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="sqs-query-model-")
        target = Path(self.path) / "sqs" / "2012-11-05"
        target.mkdir(parents=True)
        shutil.copy(OLD_MODEL, target / "service-2.json")

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def sqs_client(endpoint: str, protocol: str, model_dir: QueryModelDir | None = None, *, access_key="test",
               secret_key="test", session_token=None, region="us-east-1", validate=True):
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=validate)
    kwargs = dict(region_name=region, endpoint_url=endpoint, aws_access_key_id=access_key,
                  aws_secret_access_key=secret_key, aws_session_token=session_token, config=config)
    if protocol == "json":
        return boto3.client("sqs", **kwargs)
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    loader.search_paths.insert(0, model_dir.path)
    client = boto3.Session(botocore_session=session).client("sqs", **kwargs)
    assert client.meta.service_model.protocol == "query"
    return client
