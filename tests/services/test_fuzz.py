"""Throw random bodies, headers and paths at every protocol: the answer is
always an HTTP response below 500 (an AWS error in the protocol's form),
never a server failure."""

from __future__ import annotations

import http.client
from urllib.parse import quote

import cbor2
import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

SIGNED = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=00"

# (signing name, method, path, fixed headers, member names worth using as keys)
TARGETS = {
    "query": ("sts", "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
              ["Action", "Version", "RoleArn", "RoleSessionName", "DurationSeconds", "Tags.member.1.Key",
               "PolicyArns.member.1.arn"]),
    "json": ("sqs", "POST", "/", {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"},
             ["QueueUrl", "MessageBody", "DelaySeconds", "MessageAttributes", "MessageGroupId"]),
    "cbor": ("monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/PutMetricData",
             {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
             ["Namespace", "MetricData", "Timestamp", "Value", "Dimensions", "StrictEntityValidation"]),
    "rest-json": ("lambda", "POST", "/2015-03-31/functions/fn/invocations", {"Content-Type": "application/json"},
                  ["X-Amz-Invocation-Type", "X-Amz-Log-Type", "X-Amz-Client-Context", "Qualifier"]),
    "rest-xml": ("s3", "PUT", "/bucket?tagging", {"Content-Type": "application/xml"},
                 ["Tagging", "TagSet", "Tag", "Key", "Value", "x-amz-expected-bucket-owner"]),
    "ec2": ("ec2", "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"},
            ["Action", "Version", "InstanceId.1", "Filter.1.Name", "Filter.1.Value.1", "MaxResults", "DryRun"]),
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1),
                    st.floats(allow_nan=False), st.text(max_size=40))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=20)


def _body_strategy(protocol: str, names: list[str]):
    keyed = st.dictionaries(st.sampled_from(names), documents, max_size=6)
    raw = st.binary(max_size=300)
    if protocol in ("query", "ec2"):
        form = st.dictionaries(st.sampled_from(names + ["X", "Y.1"]), st.text(max_size=30), max_size=8).map(
            lambda d: "&".join(f"{quote(k)}={quote(v)}" for k, v in d.items()).encode())
        with_action = form.map(lambda b: b"Action=" + (b"AssumeRole" if protocol == "query" else b"DescribeInstances")
                               + b"&Version=2011-06-15&" + b)
        return st.one_of(raw, form, with_action)
    if protocol == "json" or protocol == "rest-json":
        return st.one_of(raw, keyed.map(orjson.dumps), documents.map(orjson.dumps))
    if protocol == "cbor":
        return st.one_of(raw, keyed.map(cbor2.dumps), documents.map(cbor2.dumps))
    xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
    return st.one_of(raw, st.builds(lambda t, v: f"<Tagging><TagSet><Tag><Key>{t}</Key><Value>{v}</Value></Tag></TagSet></Tagging>".encode("utf-8", "replace"), xml_text, xml_text))


header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
paths = st.one_of(st.just(None), st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40))


def _post(conn: http.client.HTTPConnection, method: str, path: str, headers: dict, body: bytes) -> int:
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def _fuzz(cloudlet_server, protocol: str):
    svc, method, path, fixed, names = TARGETS[protocol]
    conn = http.client.HTTPConnection("127.0.0.1", cloudlet_server.port, timeout=30)

    @settings(max_examples=max(120, settings.default.max_examples // 6), deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(body=_body_strategy(protocol, names),
           extra=st.dictionaries(st.sampled_from(names + ["Content-Type", "Content-Encoding", "X-Amz-Target",
                                                          "smithy-protocol", "Authorization", "Host"]),
                                 header_values, max_size=3),
           rand_path=paths)
    def run(body, extra, rand_path):
        headers = {**fixed, "Authorization": SIGNED.format(svc=svc)}
        headers.update({k: v for k, v in extra.items() if k.lower() not in ("content-length", "transfer-encoding")})
        target = path if rand_path is None else "/" + quote(rand_path, safe="/?=&%")
        status = _post(conn, method, target, headers, body)
        assert status < 500, (protocol, target, headers, body)

    try:
        run()
    finally:
        conn.close()


def test_fuzz_query(cloudlet_server):
    _fuzz(cloudlet_server, "query")


def test_fuzz_ec2(cloudlet_server):
    _fuzz(cloudlet_server, "ec2")


def test_fuzz_json(cloudlet_server):
    _fuzz(cloudlet_server, "json")


def test_fuzz_cbor(cloudlet_server):
    _fuzz(cloudlet_server, "cbor")


def test_fuzz_rest_json(cloudlet_server):
    _fuzz(cloudlet_server, "rest-json")


def test_fuzz_rest_xml(cloudlet_server):
    _fuzz(cloudlet_server, "rest-xml")
