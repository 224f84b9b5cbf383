"""boto3 with awscrt installed signs with the CRT signer (the suite's own
clients are made without it, see conftest.py). cloudlet must verify those
signatures too: a client in a subprocess with CRT enabled, an IAM user's
key so the signature is really checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.services.test_iam_enforcement import allow, doc, user_with

SCRIPT = r"""
import json, sys
import boto3, botocore.auth, botocore.compat
endpoint, key, secret = sys.argv[1:4]
assert botocore.compat.HAS_CRT
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)
out = {"signer": type(botocore.auth.AUTH_TYPE_MAPS["v4"]).__name__ if not isinstance(
    botocore.auth.AUTH_TYPE_MAPS["v4"], type) else botocore.auth.AUTH_TYPE_MAPS["v4"].__name__}
out["arn"] = boto3.client("sts", **kw).get_caller_identity()["Arn"]
sqs = boto3.client("sqs", **kw)
url = sqs.create_queue(QueueName="crt-signed")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="signed by CRT",
                 MessageAttributes={"note": {"DataType": "String", "StringValue": "  spaced   value "}})
out["body"] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]["Body"]
print(json.dumps(out))
"""


def test_crt_signed_requests_are_verified(cloudlet):
    me, arn = user_with(cloudlet, "crt", doc(allow("sqs:*"), allow("sts:GetCallerIdentity")))
    env = {k: v for k, v in os.environ.items() if k != "BOTO_DISABLE_CRT"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, cloudlet.endpoint, me.key["AccessKeyId"],
                           me.key["SecretAccessKey"]], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["signer"] == "CrtSigV4Auth"
    assert (out["arn"], out["body"]) == (arn, "signed by CRT")
