"""CORS on S3, against a live server: preflight OPTIONS requests answered
from the bucket's CORS configuration (S3 API reference "OPTIONS object"),
and the Access-Control-* headers S3 adds to an actual request whose Origin
a rule allows. Error texts are S3's, typo ("evalution") included."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.http import send
from tests.services.s3_object_helpers import error

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")
ORIGIN = "https://app.example.com"


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    client.create_bucket(Bucket="site")
    client.put_object(Bucket="site", Key="index.html", Body=b"<html/>")
    return client


def cors(s3, *rules, bucket="site") -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": list(rules)})


def options(cloudlet, path: str, **headers):
    return send(cloudlet.endpoint, "OPTIONS", path, headers={k.replace("_", "-"): v for k, v in headers.items()})


def xml_error(resp) -> dict:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(resp.body)
    out = {child.tag: child.text or "" for child in root if child.tag not in ("RequestId", "HostId")}
    out["Status"] = resp.status
    return out


def access_control(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k.startswith("access-control-") or k == "vary"}


def with_origin(client, origin: str = ORIGIN, **extra):
    """Send every call of a boto3 client with an Origin header (and more)."""
    def add(request, **_):
        request.headers["Origin"] = origin
        for name, value in extra.items():
            request.headers[name.replace("_", "-")] = value
    client.meta.events.register("before-sign.s3.*", add)
    return client


# -- preflight ----------------------------------------------------------------------------

def test_preflight_allowed(cloudlet, s3):
    cors(s3, {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET", "PUT"], "AllowedHeaders": ["*"],
              "MaxAgeSeconds": 3000, "ExposeHeaders": ["ETag", "x-amz-request-id"]})
    resp = options(cloudlet, "/site/index.html", Origin=ORIGIN, Access_Control_Request_Method="PUT",
                   Access_Control_Request_Headers="content-type, X-Amz-Meta-Owner")
    assert resp.status == 200
    assert resp.body == b""
    assert access_control(resp.headers) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-credentials": "true",
        "vary": VARY,
        "access-control-allow-methods": "GET, PUT",
        "access-control-allow-headers": "content-type, X-Amz-Meta-Owner",
        "access-control-expose-headers": "ETag, x-amz-request-id",
        "access-control-max-age": "3000",
    }
    assert resp.header("content-length") == "0"
    assert resp.header("content-type") is None
    assert len(resp.header("x-amz-request-id")) == 16


def test_preflight_any_origin_answers_star_without_credentials(cloudlet, s3):
    cors(s3, {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]})
    resp = options(cloudlet, "/site/anything", Origin="http://random:1234", Access_Control_Request_Method="GET")
    assert resp.status == 200
    assert access_control(resp.headers) == {"access-control-allow-origin": "*", "vary": VARY,
                                            "access-control-allow-methods": "GET"}


def test_preflight_without_origin(cloudlet, s3):
    cors(s3, {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]})
    for path in ("/site/index.html", "/site", "/no-such-bucket/k"):
        resp = options(cloudlet, path, Access_Control_Request_Method="GET")
        assert xml_error(resp) == {"Code": "BadRequest", "Status": 400,
                                   "Message": "Insufficient information. Origin request header needed."}
        assert resp.header("content-type") == "application/xml"
        assert access_control(resp.headers) == {}


def test_preflight_method_must_be_an_s3_method(cloudlet, s3):
    cors(s3, {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]})
    resp = options(cloudlet, "/site/k", Origin=ORIGIN, Access_Control_Request_Method="BLAH")
    assert xml_error(resp) == {"Code": "BadRequest", "Status": 400,
                               "Message": "Invalid Access-Control-Request-Method: BLAH"}
    resp = options(cloudlet, "/site/k", Origin=ORIGIN)
    assert xml_error(resp) == {"Code": "BadRequest", "Status": 400,
                               "Message": "Invalid Access-Control-Request-Method: null"}


def test_preflight_no_such_bucket(cloudlet, s3):
    resp = options(cloudlet, "/no-such-bucket/k", Origin=ORIGIN)
    assert xml_error(resp) == {"Code": "AccessForbidden", "Status": 403, "Message": "CORSResponse: Bucket not found",
                               "Method": "OPTIONS", "ResourceType": "BUCKET"}
    resp = options(cloudlet, "/no-such-bucket/k", Origin=ORIGIN, Access_Control_Request_Method="GET")
    assert xml_error(resp)["Method"] == "GET"


def test_preflight_bucket_without_cors(cloudlet, s3):
    resp = options(cloudlet, "/site/index.html", Origin="whatever", Access_Control_Request_Method="PUT")
    assert xml_error(resp) == {"Code": "AccessForbidden", "Status": 403,
                               "Message": "CORSResponse: CORS is not enabled for this bucket.",
                               "Method": "PUT", "ResourceType": "BUCKET"}
    resp = options(cloudlet, "/site/index.html", Origin="whatever")
    assert xml_error(resp)["Method"] == "OPTIONS"
    cors(s3, {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]})
    s3.delete_bucket_cors(Bucket="site")
    resp = options(cloudlet, "/site/index.html", Origin="whatever", Access_Control_Request_Method="GET")
    assert xml_error(resp)["Message"] == "CORSResponse: CORS is not enabled for this bucket."


def test_preflight_not_allowed(cloudlet, s3):
    cors(s3, {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET"],
              "AllowedHeaders": ["x-amz-expected-bucket-owner"]})
    cases = [
        ({"Origin": "http://app.example.com", "Access_Control_Request_Method": "GET"}, "GET"),  # scheme differs
        ({"Origin": ORIGIN + ":443", "Access_Control_Request_Method": "GET"}, "GET"),         # port differs
        ({"Origin": ORIGIN, "Access_Control_Request_Method": "PUT"}, "PUT"),                  # method
        ({"Origin": ORIGIN, "Access_Control_Request_Method": "GET",                            # a header
          "Access_Control_Request_Headers": "x-amz-expected-bucket-owner, x-amz-request-payer"}, "GET"),
    ]
    for headers, method in cases:
        resp = options(cloudlet, "/site/index.html", **headers)
        assert xml_error(resp) == {"Code": "AccessForbidden", "Status": 403, "Message": NOT_ALLOWED,
                                   "Method": method, "ResourceType": "OBJECT"}, headers
        assert access_control(resp.headers) == {}
    # On the bucket itself, the resource is the bucket.
    resp = options(cloudlet, "/site", Origin="http://other", Access_Control_Request_Method="GET")
    assert xml_error(resp)["ResourceType"] == "BUCKET"


def test_preflight_rules_in_order_and_wildcards(cloudlet, s3):
    cors(s3,
         {"ID": "exact", "AllowedOrigins": ["http://www.example1.com"], "AllowedMethods": ["PUT", "POST", "DELETE"],
          "AllowedHeaders": ["x-amz-*", "Content-Type"]},
         {"ID": "subdomains", "AllowedOrigins": ["http://*.example.com"], "AllowedMethods": ["GET", "HEAD"],
          "ExposeHeaders": ["x-amz-server-side-encryption"]},
         {"ID": "anyone", "AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 60})
    resp = options(cloudlet, "/site/k", Origin="http://www.example1.com", Access_Control_Request_Method="POST",
                   Access_Control_Request_Headers="x-amz-date,CONTENT-TYPE,X-Amz-Meta-A")
    assert access_control(resp.headers)["access-control-allow-headers"] == "x-amz-date, CONTENT-TYPE, X-Amz-Meta-A"
    assert access_control(resp.headers)["access-control-allow-methods"] == "PUT, POST, DELETE"
    resp = options(cloudlet, "/site/k", Origin="http://a.b.example.com", Access_Control_Request_Method="HEAD")
    assert access_control(resp.headers) == {
        "access-control-allow-origin": "http://a.b.example.com", "access-control-allow-credentials": "true",
        "vary": VARY, "access-control-allow-methods": "GET, HEAD",
        "access-control-expose-headers": "x-amz-server-side-encryption"}
    # GET from a subdomain matches the second rule first; from elsewhere the third.
    resp = options(cloudlet, "/site/k", Origin="https://example.org", Access_Control_Request_Method="GET")
    assert access_control(resp.headers) == {"access-control-allow-origin": "*", "vary": VARY,
                                            "access-control-allow-methods": "GET",
                                            "access-control-max-age": "60"}
    # x-amz-* does not cover other headers; the third rule allows none.
    resp = options(cloudlet, "/site/k", Origin="http://www.example1.com", Access_Control_Request_Method="PUT",
                   Access_Control_Request_Headers="x-amz-acl, authorization")
    assert xml_error(resp)["Code"] == "AccessForbidden"


def test_preflight_virtual_hosted(cloudlet, s3):
    cors(s3, {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET"]})
    port = cloudlet.endpoint.rsplit(":", 1)[1]
    for host in (f"site.localhost:{port}", f"site.s3.localhost.localstack.cloud:{port}"):
        resp = options(cloudlet, "/index.html", Host=host, Origin=ORIGIN, Access_Control_Request_Method="GET")
        assert resp.status == 200, host
        assert resp.header("access-control-allow-origin") == ORIGIN
        resp = options(cloudlet, "/index.html", Host=host, Origin="http://evil", Access_Control_Request_Method="GET")
        assert xml_error(resp)["ResourceType"] == "OBJECT"
        resp = options(cloudlet, "/", Host=host, Origin="http://evil", Access_Control_Request_Method="GET")
        assert xml_error(resp)["ResourceType"] == "BUCKET"


def test_options_elsewhere_unchanged(cloudlet, s3):
    # No bucket: still no such method.
    resp = options(cloudlet, "/", Origin=ORIGIN, Access_Control_Request_Method="GET")
    assert xml_error(resp) == {"Code": "MethodNotAllowed", "Status": 405,
                               "Message": "The specified method is not allowed against this resource."}
    # Another service's host: that service's own answer.
    port = cloudlet.endpoint.rsplit(":", 1)[1]
    resp = options(cloudlet, "/", Host=f"sqs.us-east-1.localhost.localstack.cloud:{port}", Origin=ORIGIN,
                   Access_Control_Request_Method="POST")
    assert resp.status == 400
    assert resp.header("x-amzn-query-error") == "UnknownOperationException;Sender"
    assert access_control(resp.headers) == {}


# -- actual requests -----------------------------------------------------------------------

def test_actual_requests_carry_cors_headers(cloudlet, s3):
    cors(s3, {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET", "HEAD", "PUT", "DELETE", "POST"],
              "MaxAgeSeconds": 3000, "ExposeHeaders": ["ETag"]})
    expected = {"access-control-allow-origin": ORIGIN, "access-control-allow-credentials": "true", "vary": VARY,
                "access-control-allow-methods": "GET, HEAD, PUT, DELETE, POST",
                "access-control-expose-headers": "ETag", "access-control-max-age": "3000"}
    browser = with_origin(cloudlet.client("s3"))
    calls = [
        lambda: browser.get_object(Bucket="site", Key="index.html"),
        lambda: browser.head_object(Bucket="site", Key="index.html"),
        lambda: browser.put_object(Bucket="site", Key="new.txt", Body=b"x"),
        lambda: browser.delete_object(Bucket="site", Key="new.txt"),
        lambda: browser.list_objects_v2(Bucket="site"),
        lambda: browser.get_bucket_location(Bucket="site"),
        lambda: browser.delete_objects(Bucket="site", Delete={"Objects": [{"Key": "gone"}]}),
    ]
    for call in calls:
        out = call()
        assert access_control(out["ResponseMetadata"]["HTTPHeaders"]) == expected
    assert browser.get_object(Bucket="site", Key="index.html")["Body"].read() == b"<html/>"


def test_errors_carry_cors_headers_too(cloudlet, s3):
    cors(s3, {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]})
    browser = with_origin(cloudlet.client("s3"))
    with pytest.raises(ClientError) as exc:
        browser.get_object(Bucket="site", Key="missing")
    assert error(exc)["Code"] == "NoSuchKey"
    assert access_control(exc.value.response["ResponseMetadata"]["HTTPHeaders"]) == {
        "access-control-allow-origin": "*", "vary": VARY, "access-control-allow-methods": "GET"}
    # An anonymous GET of a private object: denied, yet readable by the page.
    resp = send(cloudlet.endpoint, "GET", "/site/index.html", headers={"Origin": ORIGIN})
    assert resp.status == 403
    assert resp.header("access-control-allow-origin") == "*"


def test_actual_requests_without_a_matching_rule(cloudlet, s3):
    cors(s3, {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET"], "AllowedHeaders": ["x-amz-request-payer"]})
    no_headers = [
        with_origin(cloudlet.client("s3"), "http://elsewhere"),                                   # origin
        with_origin(cloudlet.client("s3"), ORIGIN, Access_Control_Request_Method="PUT"),        # asks for PUT
        with_origin(cloudlet.client("s3"), ORIGIN, Access_Control_Request_Headers="x-custom"),  # a header
    ]
    for client in no_headers:
        out = client.get_object(Bucket="site", Key="index.html")
        assert access_control(out["ResponseMetadata"]["HTTPHeaders"]) == {}
    # A PUT when only GET is allowed: stored, no CORS headers.
    out = with_origin(cloudlet.client("s3")).put_object(Bucket="site", Key="k", Body=b"x")
    assert access_control(out["ResponseMetadata"]["HTTPHeaders"]) == {}
    # Allowed headers asked for on an actual request are echoed.
    out = with_origin(cloudlet.client("s3"), ORIGIN, Access_Control_Request_Headers="X-Amz-Request-Payer") \
        .get_object(Bucket="site", Key="index.html")
    assert out["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-headers"] == "X-Amz-Request-Payer"
    # No Origin: not a cross-origin request.
    out = s3.get_object(Bucket="site", Key="index.html")
    assert access_control(out["ResponseMetadata"]["HTTPHeaders"]) == {}


def test_no_cors_configuration_no_headers(cloudlet, s3):
    browser = with_origin(cloudlet.client("s3"))
    out = browser.get_object(Bucket="site", Key="index.html")
    assert access_control(out["ResponseMetadata"]["HTTPHeaders"]) == {}
    out = browser.list_buckets()
    assert access_control(out["ResponseMetadata"]["HTTPHeaders"]) == {}


def test_actual_request_virtual_hosted(cloudlet, s3):
    cors(s3, {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]})
    port = cloudlet.endpoint.rsplit(":", 1)[1]
    resp = send(cloudlet.endpoint, "GET", "/index.html", service="s3",
                headers={"Host": f"site.localhost:{port}", "Origin": ORIGIN})
    assert resp.status == 200 and resp.body == b"<html/>"
    assert resp.header("access-control-allow-origin") == "*"
