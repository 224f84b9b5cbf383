from __future__ import annotations

from cloudlet.protocol.catalog import Catalog
from cloudlet.protocol.model import ModelRegistry, compile_java_pattern
from cloudlet.protocol.validate import violations


def test_loads_botocore_models_lazily():
    registry = ModelRegistry()
    sts = registry.get("sts")
    assert sts.protocol == "query"
    assert sts.api_version == "2011-06-15"
    assert sts.operation("GetCallerIdentity").output.members.keys() >= {"UserId", "Account", "Arn"}
    assert registry.get("sts") is sts
    assert registry.get("no-such-service") is None


def test_error_shapes_found_by_name_and_query_code():
    registry = ModelRegistry()
    sts = registry.get("sts")
    shape = sts.error_shape("ExpiredTokenException")
    assert shape is not None
    assert shape.error.get("code") == "ExpiredTokenException"
    assert sts.error_shape("NotAnError") is None


def test_patches_merge_into_the_model():
    registry = ModelRegistry()
    registry.add_patch("sts", {"shapes": {"roleSessionNameType": {"min": 5}}})
    shape = registry.get("sts").shape("roleSessionNameType")
    assert shape.min == 5
    assert shape.max == 64


def test_catalog_routing_facts(tmp_path):
    catalog = Catalog(ModelRegistry(), cache_dir=str(tmp_path))
    assert catalog.get("sqs").target_prefix == "AmazonSQS"
    assert catalog.get("sqs").query_compatible is True
    assert catalog.by_target_prefix("GraniteServiceVersion20100801").name == "cloudwatch"
    assert [e.name for e in catalog.by_signing_name("sts")] == ["sts"]
    assert "s3" in [e.name for e in catalog.by_signing_name("s3")]
    # The second catalog reads the cache file the first one wrote.
    assert len(list(tmp_path.iterdir())) == 1
    again = Catalog(ModelRegistry(), cache_dir=str(tmp_path))
    assert again.get("monitoring") is None and again.get("cloudwatch").signing_name == "monitoring"


def test_java_patterns():
    assert compile_java_pattern(r"[\p{L}\p{N}_]+").fullmatch("abc_1")
    pattern = compile_java_pattern(r"[\u0009\u0020-\uD7FF\u10000-\u10FFFF]+")
    assert pattern.fullmatch("emoji 😀")


def test_validation_messages():
    sts = ModelRegistry().get("sts")
    op = sts.operation("AssumeRole")
    found = violations(op.input, {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "bad name!",
                                  "Tags": [{"Key": "k"}]})
    assert [str(v) for v in found] == [
        "Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        "Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null",
    ]


def test_host_labels_are_read_from_the_host():
    from cloudlet.protocol.hostlabels import fill_host_labels
    from cloudlet.protocol.http import HttpRequest
    from cloudlet.protocol.model import ServiceModel

    model = ServiceModel("demo", {
        "metadata": {"protocol": "json", "targetPrefix": "Demo", "jsonVersion": "1.0"},
        "operations": {"Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"},
                               "input": {"shape": "PutInput"}, "endpoint": {"hostPrefix": "{AccountId}.data."}}},
        "shapes": {"PutInput": {"type": "structure", "required": ["AccountId"],
                                "members": {"AccountId": {"shape": "S", "hostLabel": True}}},
                   "S": {"type": "string"}},
    })
    op = model.operation("Put")
    params: dict = {}
    fill_host_labels(op, HttpRequest("POST", "/", "", {"Host": "123456789012.data.localhost:4566"}), params)
    assert params == {"AccountId": "123456789012"}
    params = {"AccountId": "from-body"}
    fill_host_labels(op, HttpRequest("POST", "/", "", {"Host": "999999999999.data.localhost"}), params)
    assert params == {"AccountId": "from-body"}
    params = {}
    fill_host_labels(op, HttpRequest("POST", "/", "", {"Host": "localhost:4566"}), params)
    assert params == {}
