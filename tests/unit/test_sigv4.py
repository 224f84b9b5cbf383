"""SigV4 verification (cloudlet.gateway.sigv4 / chunked) against requests
signed the way real clients sign them: botocore's own signers, boto3's S3
client (captured just before it would hit the network) and AWS's documented
chunked-upload examples with their published signatures."""

from __future__ import annotations

import base64
import calendar
import gzip
import time
import zlib
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from cloudlet.errors import AwsError
from cloudlet.gateway import chunked, sigv4
from cloudlet.gateway.auth import Credential, parse_credential
from cloudlet.gateway.sigv4 import SigV4Error, auth_error, verify
from cloudlet.protocol.http import HttpRequest

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDS = Credentials(AKID, SECRET)
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
S3_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
               "Check your key and signing method.")


# -- building requests ------------------------------------------------------

def to_http(prepared) -> HttpRequest:
    """A botocore prepared request as the ASGI app hands it over: the path and
    query as sent, lower-case header names, the body as bytes."""
    parts = urlsplit(prepared.url)
    headers = []
    for k, v in prepared.headers.items():
        headers.append((k.lower(), v.decode("latin-1") if isinstance(v, bytes) else str(v)))
    if not any(k == "host" for k, _ in headers):
        host = parts.hostname + (f":{parts.port}" if parts.port not in (None, 80, 443) else "")
        headers.append(("host", host))
    body = prepared.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    elif isinstance(body, str):
        body = body.encode()
    return HttpRequest(prepared.method, parts.path or "/", parts.query, headers, body)


def signed(signer, method: str, url: str, body: bytes | dict = b"", headers: dict | None = None,
           context: dict | None = None) -> HttpRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if context:
        request.context.update(context)
    signer.add_auth(request)
    return to_http(request.prepare())


def sts_request(**kw) -> HttpRequest:
    return signed(SigV4Auth(kw.pop("creds", CREDS), "sts", "us-east-1"), "POST", "https://sts.amazonaws.com/",
                  body={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                  headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, **kw)


def kms_request(body: bytes = b'{"KeyId": "alias/test", "Plaintext": "aGVsbG8="}') -> HttpRequest:
    return signed(SigV4Auth(CREDS, "kms", "us-east-1"), "POST", "https://kms.us-east-1.amazonaws.com/", body=body,
                  headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"})


class Captured:
    """boto3 clients whose requests stop right before the network."""

    def __init__(self):
        self.requests = []
        self._clients = {}

    def client(self, service: str, scheme: str = "https", **config):
        key = (service, scheme, tuple(sorted(config.items())))
        if key not in self._clients:
            c = boto3.client(service, region_name="us-east-1", endpoint_url=f"{scheme}://localhost:4566",
                             aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                             config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0},
                                           **config))
            c.meta.events.register("before-send", self._capture)
            self._clients[key] = c
        return self._clients[key]

    def _capture(self, request, **kw):
        self.requests.append(to_http(request))
        response = AWSResponse(request.url, 200, {}, None)

        class Raw:
            def stream(self, **kw):
                yield b""

        response.raw = Raw()
        return response

    def last(self) -> HttpRequest:
        return self.requests[-1]


@pytest.fixture(scope="module")
def boto():
    return Captured()


def check(request: HttpRequest, secret: str = SECRET, *, wall_now: float | None = None,
          clock_now: float | None = None, **kw) -> sigv4.Verified:
    now = time.time()
    return verify(request, parse_credential(request), secret, wall_now=now if wall_now is None else wall_now,
                  clock_now=now if clock_now is None else clock_now, **kw)


def refused(request: HttpRequest, secret: str = SECRET, **kw) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        check(request, secret, **kw)
    return info.value


def answer(err: SigV4Error, signing_name: str, protocol: str) -> tuple[str, int, str]:
    e = auth_error(err, signing_name=signing_name, protocol=protocol)
    assert isinstance(e, AwsError)
    return e.code, e.status, e.message


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def basic(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(epoch)))


# -- header auth ------------------------------------------------------------

def test_query_service_header_auth():
    request = sts_request()
    v = check(request)
    assert (v.payload_mode, v.access_key, v.region, v.service, v.presigned) == \
        ("signed", AKID, "us-east-1", "sts", False)
    assert v.signature == parse_credential(request).signature
    assert v.amz_date == request.header("x-amz-date")
    assert v.payload_hash == sigv4.hashlib.sha256(request.body).hexdigest()


def test_json_service_header_auth():
    v = check(kms_request())
    assert (v.payload_mode, v.service) == ("signed", "kms")


def test_asgi_raw_headers():
    """The ASGI app hands headers over as bytes, decoded only when asked for."""
    r = kms_request()
    raw = [(k.encode(), v.encode()) for k, v in r.header_list]
    request = HttpRequest(r.method, r.raw_path, r.query_string, None, r.body, raw_headers=raw)
    assert check(request).service == "kms"


def test_other_services_normalize_and_double_encode_the_path():
    # botocore signs quote(remove_dot_segments(path)) for every service but S3.
    request = signed(SigV4Auth(CREDS, "lambda", "us-east-1"), "GET",
                     "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my%3Afn/./x/../configuration")
    assert request.raw_path == "/2015-03-31/functions/my%3Afn/./x/../configuration"
    assert sigv4.canonical_uri(request.raw_path, s3=False) == "/2015-03-31/functions/my%253Afn/configuration"
    assert check(request).service == "lambda"


def test_query_string_is_sorted_and_encoded():
    request = signed(SigV4Auth(CREDS, "sqs", "us-east-1"), "GET",
                     "https://sqs.us-east-1.amazonaws.com/?Version=2012-11-05&Action=ListQueues"
                     "&QueueNamePrefix=a%20b%2Fc~d")
    assert sigv4.canonical_query(request.query_string) == \
        "Action=ListQueues&QueueNamePrefix=a%20b%2Fc~d&Version=2012-11-05"
    assert check(request).service == "sqs"


def test_compressed_body_is_verified_as_sent(boto):
    """botocore gzips large CloudWatch bodies before signing: the signature is
    over the compressed bytes, so it must be checked before inflating."""
    try:
        boto.client("cloudwatch").put_metric_data(
            Namespace="n", MetricData=[{"MetricName": f"metric-{i}", "Value": 1.0} for i in range(400)])
    except Exception:
        pass    # the captured empty response is not a valid query answer
    request = boto.last()
    assert request.header("content-encoding") == "gzip"
    check(request)
    inflated = HttpRequest(request.method, request.raw_path, request.query_string, request.header_list,
                           gzip.decompress(request.body))
    assert refused(inflated).kind == "signature_mismatch"


def test_date_header_instead_of_x_amz_date():
    request = signed(SigV4Auth(CREDS, "sts", "us-east-1"), "POST", "https://sts.amazonaws.com/",
                     body={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
                     headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert request.header("x-amz-date") is None
    v = check(request)
    assert v.amz_date == basic(sigv4._parse_http_date(request.header("date")))


@pytest.mark.parametrize("key", ["with space.txt", "unicodé/ключ ☃.txt", "tilde~and+plus=.txt", "a//b",
                                 "dot/./and/../segments", "100%25 sure's(!).txt"])
def test_s3_header_auth_path_as_sent(boto, key):
    boto.client("s3").get_object(Bucket="bucket", Key=key)
    request = boto.last()
    v = check(request)
    assert (v.service, v.payload_mode) == ("s3", "signed")
    # S3 signs the path as sent, not normalized, not encoded again.
    assert sigv4.canonical_uri(request.raw_path, s3=True) == request.raw_path


def test_header_values_trimmed_and_collapsed(boto):
    boto.client("s3", "http").put_object(Bucket="bucket", Key="k", Body=b"x",
                                         Metadata={"note": "  two   spaces \t and a tab "})
    request = boto.last()
    assert request.header("x-amz-meta-note") == "  two   spaces \t and a tab "
    assert "x-amz-meta-note:two spaces and a tab\n" in sigv4.canonical_headers(
        request.headers, parse_credential(request).signed_headers)
    check(request)


def test_other_spellings_of_the_signed_request():
    """A client that signs the canonical form but sends another spelling of
    the same path or query (an unencoded ', a + for a space)."""
    r = signed(S3SigV4Auth(CREDS, "s3", "us-east-1"), "GET",
               "https://localhost:4566/bucket/it%27s%20mine?prefix=a%20b&list-type=2")
    request = HttpRequest(r.method, "/bucket/it's%20mine", "prefix=a+b&list-type=2", r.header_list, r.body)
    assert check(request).service == "s3"
    assert refused(HttpRequest(r.method, "/bucket/its%20mine", r.query_string, r.header_list, r.body)).kind == \
        "signature_mismatch"


def test_s3_put_over_http_signs_the_payload(boto):
    """Over plain HTTP botocore signs the body's SHA-256 and sends the CRC32
    as a header (no aws-chunked body)."""
    boto.client("s3", "http").put_object(Bucket="bucket", Key="k", Body=b"hello world")
    request = boto.last()
    assert request.header("x-amz-content-sha256") == sigv4.hashlib.sha256(b"hello world").hexdigest()
    assert request.header("x-amz-checksum-crc32") == "DUoRhQ=="
    v = check(request)
    assert (v.payload_mode, request.body, v.trailers) == ("signed", b"hello world", {})


def test_s3_client_with_temporary_credentials(boto):
    c = boto3.client("s3", region_name="us-east-1", endpoint_url="https://localhost:4566",
                     aws_access_key_id="ASIAEXAMPLE", aws_secret_access_key=SECRET, aws_session_token="TOKEN==",
                     config=Config(s3={"addressing_style": "path"}))
    c.meta.events.register("before-send", boto._capture)
    c.list_objects_v2(Bucket="bucket", Prefix="a b/")
    v = check(boto.last(), session_token_required=True)
    assert v.security_token == "TOKEN=="


# -- presigned URLs ---------------------------------------------------------

def test_s3_presigned_get():
    request = signed(S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=600), "GET",
                     "https://localhost:4566/bucket/some%20key~.txt?versionId=3%2F4")
    v = check(request)
    assert (v.presigned, v.payload_mode, v.payload_hash) == (True, "unsigned", "UNSIGNED-PAYLOAD")


def test_s3_presigned_by_the_client(boto):
    # (Without signature_version boto3 presigns S3 URLs with SigV2.)
    url = boto.client("s3", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": "b", "Key": "a b/ü"}, ExpiresIn=60)
    parts = urlsplit(url)
    request = HttpRequest("GET", parts.path, parts.query, [("host", "localhost:4566")])
    assert check(request).presigned


def test_sts_presigned_get():
    request = signed(SigV4QueryAuth(CREDS, "sts", "us-east-1", expires=900), "GET",
                     "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
    v = check(request)
    # Outside S3 a presigned URL signs the body's hash (the empty body's).
    assert (v.presigned, v.payload_hash) == (True, sigv4.EMPTY_SHA256)


def test_presigned_expired_by_the_clock_while_wall_time_is_fine():
    request = signed(S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=60), "GET",
                     "https://localhost:4566/bucket/key")
    now = time.time()
    amz = parse_amz(request.query["X-Amz-Date"])
    check(request, wall_now=now, clock_now=amz + 60)
    err = refused(request, wall_now=now, clock_now=amz + 61)
    assert err.kind == "presign_expired"
    e = auth_error(err, signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == ("AccessDenied", 403, "Request has expired")
    assert e.fields == {"X-Amz-Expires": "60", "Expires": iso(amz + 60), "ServerTime": iso(amz + 61)}

    sts = signed(SigV4QueryAuth(CREDS, "sts", "us-east-1", expires=60), "GET",
                 "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15")
    err = refused(sts, clock_now=parse_amz(sts.query["X-Amz-Date"]) + 3600)
    assert answer(err, "sts", "query") == ("RequestExpired", 400, "Request has expired.")


def test_presigned_not_yet_valid():
    request = signed(S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=60), "GET",
                     "https://localhost:4566/bucket/key")
    amz = parse_amz(request.query["X-Amz-Date"])
    err = refused(request, wall_now=amz - 901, clock_now=amz - 901)
    e = auth_error(err, signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == ("AccessDenied", 403, "Request is not yet valid")
    assert e.fields == {"X-Amz-Date": str(int(amz) * 1000), "Expires": iso(amz + 60), "ServerTime": iso(amz - 901)}


def test_presigned_expires_limits():
    request = signed(S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=604801), "GET",
                     "https://localhost:4566/bucket/key")
    assert answer(refused(request), "s3", "rest-xml") == (
        "AuthorizationQueryParametersError", 400,
        ("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than "
        "604800 seconds"))
    week = signed(S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=604800), "GET",
                  "https://localhost:4566/bucket/key")
    check(week)
    incomplete = HttpRequest("GET", "/bucket/key", week.query_string.replace("X-Amz-Expires=604800&", ""),
                             [("host", "localhost:4566")])
    assert answer(refused(incomplete), "s3", "rest-xml") == (
        "AuthorizationQueryParametersError", 400,
        ("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
        "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."))


def parse_amz(value: str) -> float:
    return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))


# -- time -------------------------------------------------------------------

def test_skew_beyond_15_minutes():
    request = sts_request()
    amz = request.header("x-amz-date")
    t = parse_amz(amz)
    check(request, wall_now=t + 900)
    err = refused(request, wall_now=t + 901)
    assert err.kind == "request_too_skewed"
    expired = (f"Signature expired: {amz} is now earlier than {basic(t + 1)} ({basic(t + 901)} - 15 min.)")
    assert answer(err, "sts", "query") == ("SignatureDoesNotMatch", 403, expired)
    assert answer(err, "kms", "json") == ("InvalidSignatureException", 400, expired)
    assert answer(err, "lambda", "rest-json") == ("InvalidSignatureException", 403, expired)
    assert answer(err, "ec2", "ec2") == ("RequestExpired", 400, "Request has expired.")

    err = refused(request, wall_now=t - 901)
    assert err.message == (f"Signature not yet current: {amz} is still later than {basic(t - 1)} "
                           f"({basic(t - 901)} + 15 min.)")


def test_s3_skew(boto):
    boto.client("s3").head_bucket(Bucket="bucket")
    request = boto.last()
    t = parse_amz(request.header("x-amz-date"))
    e = auth_error(refused(request, wall_now=t + 3600), signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == (
        "RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.")
    assert e.fields == {"RequestTime": request.header("x-amz-date"), "ServerTime": iso(t + 3600),
                        "MaxAllowedSkewMilliseconds": "900000"}


# -- tampering --------------------------------------------------------------

def test_wrong_secret():
    err = refused(sts_request(), "not-the-secret")
    assert err.kind == "signature_mismatch"
    assert answer(err, "sts", "query") == ("SignatureDoesNotMatch", 403, MISMATCH)
    assert answer(err, "sqs", "json") == ("InvalidSignatureException", 400, MISMATCH)
    assert answer(err, "logs", "json") == ("InvalidSignatureException", 400, MISMATCH)
    assert err.details["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert err.details["CanonicalRequest"].startswith("POST\n/\n\n")


def test_s3_mismatch_names_what_was_signed(boto):
    boto.client("s3").get_object(Bucket="bucket", Key="k")
    request = boto.last()
    err = refused(request, "wrong")
    e = auth_error(err, signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == ("SignatureDoesNotMatch", 403, S3_MISMATCH)
    assert list(e.fields) == ["AWSAccessKeyId", "StringToSign", "SignatureProvided", "StringToSignBytes",
                              "CanonicalRequest", "CanonicalRequestBytes"]
    assert e.fields["AWSAccessKeyId"] == AKID
    assert e.fields["SignatureProvided"] == parse_credential(request).signature
    assert e.fields["StringToSignBytes"].startswith("41 57 53 34 2d")  # "AWS4-"
    assert e.fields["CanonicalRequest"].startswith("GET\n/bucket/k\n")
    assert bytes.fromhex(e.fields["CanonicalRequestBytes"].replace(" ", "")).decode() == \
        e.fields["CanonicalRequest"]


def test_body_tampered_after_signing():
    request = kms_request()
    request.body = request.body.replace(b"alias/test", b"alias/evil")
    assert refused(request).kind == "signature_mismatch"


def test_header_tampered_after_signing():
    request = kms_request()
    headers = [(k, "TrentService.Decrypt" if k == "x-amz-target" else v) for k, v in request.header_list]
    request = HttpRequest(request.method, request.raw_path, request.query_string, headers, request.body)
    assert refused(request).kind == "signature_mismatch"


def test_unsigned_payload(boto):
    request = signed(S3SigV4Auth(CREDS, "s3", "us-east-1"), "PUT", "https://localhost:4566/bucket/key",
                     body=b"data", headers={"Content-MD5": base64.b64encode(sigv4.hashlib.md5(b"data").digest())
                                            .decode()},
                     context={"payload_signing_enabled": False})
    assert request.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    request.body = b"other data"    # not covered by the signature
    v = check(request)
    assert (v.payload_mode, v.payload_hash) == ("unsigned", "UNSIGNED-PAYLOAD")


def test_content_sha256_mismatch(boto):
    boto.client("s3", "http").put_object(Bucket="bucket", Key="k", Body=b"hello world")
    request = boto.last()
    request.body = b"hello wOrld"
    err = refused(request)
    e = auth_error(err, signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == (
        "XAmzContentSHA256Mismatch", 400, ("The provided 'x-amz-content-sha256' header does not match what was "
        "computed."))
    assert e.fields == {"ClientComputedContentSHA256": sigv4.hashlib.sha256(b"hello world").hexdigest(),
                        "S3ComputedContentSHA256": sigv4.hashlib.sha256(b"hello wOrld").hexdigest()}


def test_s3_headers_added_after_signing(boto):
    boto.client("s3").get_object(Bucket="bucket", Key="k")
    r = boto.last()
    request = HttpRequest(r.method, r.raw_path, r.query_string,
                          r.header_list + [("x-amz-meta-b", "1"), ("x-amz-meta-a", "2"), ("content-md5", "x")],
                          r.body)
    e = auth_error(refused(request), signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == ("AccessDenied", 403,
                                             "There were headers present in the request which were not signed")
    # Named in the order of the java.util.HashSet S3 collects them in.
    assert e.fields == {"HeadersNotSigned": "x-amz-meta-a, x-amz-meta-b, content-md5"}


def test_s3_requires_the_payload_header():
    request = signed(SigV4Auth(CREDS, "s3", "us-east-1"), "GET", "https://localhost:4566/bucket/key")
    assert request.header("x-amz-content-sha256") is None
    assert answer(refused(request), "s3", "rest-xml") == (
        "InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256")


# -- streaming bodies ----------------------------------------------------------

AWS_DATE = calendar.timegm((2013, 5, 24, 0, 0, 0))
A64K, A1K = b"a" * 65536, b"a" * 1024


def aws_chunked_example(body: bytes | None = None) -> HttpRequest:
    """The PUT of AWS's "Transferring Payload in Multiple Chunks" example:
    65 KiB of "a" in a 64 KiB and a 1 KiB chunk, with the published seed and
    chunk signatures."""
    if body is None:
        body = (b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
                + A64K + b"\r\n"
                b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
                + A1K + b"\r\n"
                b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
    headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                          "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                          "x-amz-decoded-content-length;x-amz-storage-class,"
                          "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ]
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


def test_streaming_signed_chunks_aws_example():
    request = aws_chunked_example()
    assert len(request.body) == 66824
    v = check(request, wall_now=AWS_DATE, clock_now=AWS_DATE)
    assert v.payload_mode == "streaming-signed"
    assert v.seed_signature == v.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    assert request.body == A64K + A1K
    assert (v.decoded_length, v.content_encoding, v.trailers) == (66560, None, {})


def test_streaming_signed_chunk_tampered():
    body = aws_chunked_example().body
    i = body.index(b"\r\n") + 2 + 1000
    request = aws_chunked_example(body[:i] + b"b" + body[i + 1:])
    err = refused(request, wall_now=AWS_DATE)
    assert (err.kind, err.details["chunk"]) == ("chunk_signature_mismatch", 1)
    e = auth_error(err, signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message) == ("SignatureDoesNotMatch", 403, S3_MISMATCH)
    assert e.fields["StringToSign"].startswith(
        "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\n")
    assert e.fields["SignatureProvided"] == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"


def test_streaming_signed_chunks_reordered():
    body = aws_chunked_example().body
    second_at = body.index(b"400;chunk-signature=")
    final_at = body.index(b"0;chunk-signature=b6c6")
    first, second, final = body[:second_at], body[second_at:final_at], body[final_at:]
    assert refused(aws_chunked_example(second + first + final), wall_now=AWS_DATE).kind == "chunk_signature_mismatch"


@pytest.mark.parametrize("cut", [10, 100, 65536, 65536 + 90, -3])
def test_streaming_signed_truncated(cut):
    body = aws_chunked_example().body
    err = refused(aws_chunked_example(body[:cut]), wall_now=AWS_DATE)
    assert err.kind == "incomplete_body"
    assert answer(err, "s3", "rest-xml") == ("IncompleteBody", 400, "The request body terminated unexpectedly")


def test_streaming_decoded_length_checked():
    body = aws_chunked_example().body
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    with pytest.raises(SigV4Error) as info:
        chunked.decode(body, signed=True, trailer=False, signing_key=key, amz_date="20130524T000000Z",
                       scope="20130524/us-east-1/s3/aws4_request",
                       seed_signature="4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
                       decoded_length=66561)
    assert answer(info.value, "s3", "rest-xml") == (
        "IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.")


def aws_trailer_example(trailer: bytes = b"x-amz-checksum-crc32c:sOO8/Q==") -> HttpRequest:
    """AWS's "Including Trailing Headers" example: the same 65 KiB with a
    CRC32C trailer and its published signatures."""
    body = (b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
            + A64K + b"\r\n"
            b"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
            + A1K + b"\r\n"
            b"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
            + trailer + b"\r\n"
            b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")
    headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", ("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                          "SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;"
                          "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,"
                          "Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("x-amz-trailer", "x-amz-checksum-crc32c"),
    ]
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


def test_streaming_signed_trailer_aws_example():
    request = aws_trailer_example()
    v = check(request, wall_now=AWS_DATE)
    assert v.payload_mode == "streaming-signed-trailer"
    assert v.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert request.body == A64K + A1K


def test_streaming_signed_trailer_tampered():
    err = refused(aws_trailer_example(b"x-amz-checksum-crc32c:AAAAAA=="), wall_now=AWS_DATE)
    assert err.kind == "trailer_signature_mismatch"
    assert err.details["StringToSign"].startswith("AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n")
    assert answer(err, "s3", "rest-xml")[:2] == ("SignatureDoesNotMatch", 403)
    # A trailer other than the declared one.
    err = refused(aws_trailer_example(b"x-amz-checksum-crc32:sOO8/Q=="), wall_now=AWS_DATE)
    assert answer(err, "s3", "rest-xml") == (
        "MalformedTrailerError", 400,
        "The request contained trailing data that was not well-formed or did not conform to our published schema.")


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("body", [b"hello world", b"", b"x" * (1024 * 1024 + 5)])
def test_unsigned_payload_with_crc32_trailer(boto, body):
    """boto3's default S3 upload over HTTPS: STREAMING-UNSIGNED-PAYLOAD-TRAILER,
    aws-chunked chunks without signatures and a CRC32 trailer."""
    boto.client("s3").put_object(Bucket="bucket", Key="k", Body=body)
    request = boto.last()
    assert request.header("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert request.header("content-encoding") == "aws-chunked"
    v = check(request)
    assert v.payload_mode == "streaming-unsigned-trailer"
    assert v.seed_signature == ""
    assert v.trailers == {"x-amz-checksum-crc32": crc32(body)}
    assert request.body == body
    assert (v.decoded_length, v.content_encoding) == (len(body), None)


def test_unsigned_trailer_keeps_other_encodings(boto):
    boto.client("s3").upload_part(Bucket="bucket", Key="k", UploadId="u", PartNumber=1, Body=b"part")
    assert check(boto.last()).trailers == {"x-amz-checksum-crc32": crc32(b"part")}
    boto.client("s3").put_object(Bucket="bucket", Key="k", Body=b"gz", ContentEncoding="gzip")
    request = boto.last()
    assert request.header("content-encoding") == "gzip,aws-chunked"
    assert check(request).content_encoding == "gzip"


def test_unsigned_trailer_truncated(boto):
    boto.client("s3").put_object(Bucket="bucket", Key="k", Body=b"hello world")
    r = boto.last()
    request = HttpRequest(r.method, r.raw_path, r.query_string, r.header_list, r.body[:8])
    assert refused(request).kind == "incomplete_body"


def test_streaming_body_decoded_without_verifying(boto):
    """A key cloudlet did not issue is not verified, but the service still
    needs the payload: decode_payload undoes the framing alone."""
    boto.client("s3").put_object(Bucket="bucket", Key="k", Body=b"hello world")
    request = boto.last()
    v = sigv4.decode_payload(request)
    assert (v.payload_mode, request.body, v.trailers) == (
        "streaming-unsigned-trailer", b"hello world", {"x-amz-checksum-crc32": crc32(b"hello world")})
    request = aws_trailer_example(b"x-amz-checksum-crc32c:AAAAAA==")   # a bad signature is not looked at
    v = sigv4.decode_payload(request)
    assert (v.payload_mode, v.trailers, len(request.body)) == (
        "streaming-signed-trailer", {"x-amz-checksum-crc32c": "AAAAAA=="}, 66560)
    assert sigv4.decode_payload(kms_request()) is None
    body = aws_chunked_example().body
    with pytest.raises(SigV4Error) as info:
        sigv4.decode_payload(aws_chunked_example(body[:-40]))
    assert info.value.kind == "incomplete_body"


# -- malformed Authorization headers ----------------------------------------

def test_garbage_authorization():
    header = "AWS4-HMAC-SHA256 garbage"
    with pytest.raises(AwsError):
        parse_credential(HttpRequest("POST", "/", "", [("authorization", header)]))
    err = sigv4.authorization_error(header)
    message = "'garbage' not a valid key=value pair (missing equal-sign) in Authorization header: " \
              "'AWS4-HMAC-SHA256 garbage'."
    assert answer(err, "sts", "query") == ("IncompleteSignature", 400, message)
    assert answer(err, "kms", "json") == ("IncompleteSignatureException", 400, message)
    assert answer(err, "s3", "rest-xml") == (
        "AuthorizationHeaderMalformed", 400, ("The authorization header is malformed; the authorization header "
        "requires three components: Credential, SignedHeaders, and Signature."))
    assert answer(sigv4.authorization_error("AWS4-HMAC-SHA512 Credential=a/b"), "sts", "query") == (
        "IncompleteSignature", 400, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.")


def test_missing_signed_headers():
    request = sts_request()
    header = request.header("authorization")
    cut = header.split(", SignedHeaders=")[0] + ", Signature=" + header.split("Signature=")[1]
    request = HttpRequest(request.method, request.raw_path, request.query_string,
                          [(k, cut if k == "authorization" else v) for k, v in request.header_list], request.body)
    err = refused(request)
    assert answer(err, "sts", "query") == (
        "IncompleteSignature", 400, f"Authorization header requires 'SignedHeaders' parameter. Authorization={cut}")
    assert answer(err, "s3", "rest-xml")[0] == "AuthorizationHeaderMalformed"


def test_missing_date():
    request = sts_request()
    header = request.header("authorization")
    request = HttpRequest(request.method, request.raw_path, request.query_string,
                          [(k, v) for k, v in request.header_list if k != "x-amz-date"], request.body)
    assert answer(refused(request), "sts", "query") == (
        "IncompleteSignature", 400,
        (f"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={header}"))


def test_bad_scope():
    request = sts_request()
    amz = request.header("x-amz-date")
    err = refused(request, region="eu-west-1", service="iam")
    assert answer(err, "sts", "query") == (
        "SignatureDoesNotMatch", 403, ("Credential should be scoped to a valid region, not 'us-east-1'. "
        "Credential should be scoped to correct service: 'iam'. "))
    # The scope's date must be the request's.
    cred = parse_credential(request)
    other = Credential(cred.access_key, cred.kind, cred.region, cred.service, "20010101", cred.signed_headers,
                       cred.signature)
    with pytest.raises(SigV4Error) as info:
        verify(request, other, SECRET, wall_now=time.time(), clock_now=time.time())
    assert answer(info.value, "kms", "json") == (
        "InvalidSignatureException", 400, ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
        f"of date from HTTP: '20010101' != '{amz[:8]}', from '{amz}'. "))


def test_s3_bad_scope(boto):
    boto.client("s3").get_object(Bucket="bucket", Key="k")
    e = auth_error(refused(boto.last(), region="eu-west-1"), signing_name="s3", protocol="rest-xml")
    assert (e.code, e.status, e.message, e.fields) == (
        "AuthorizationHeaderMalformed", 400,
        "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
        {"Region": "eu-west-1"})


def test_host_must_be_signed_outside_s3():
    request = sts_request()
    cred = parse_credential(request)
    cred.signed_headers = [h for h in cred.signed_headers if h != "host"]
    with pytest.raises(SigV4Error) as info:
        verify(request, cred, SECRET, wall_now=time.time(), clock_now=time.time())
    assert answer(info.value, "sts", "query") == (
        "SignatureDoesNotMatch", 403, "'Host' must be a 'SignedHeader' in the AWS Authorization.")


def test_session_token():
    temp = Credentials("ASIAEXAMPLE", SECRET, "SESSION-TOKEN")
    v = check(sts_request(creds=temp), session_token_required=True)
    assert v.security_token == "SESSION-TOKEN"
    err = refused(sts_request(creds=Credentials("ASIAEXAMPLE", SECRET)), session_token_required=True)
    assert answer(err, "sts", "query") == (
        "InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    assert answer(err, "kms", "json") == (
        "UnrecognizedClientException", 400, "The security token included in the request is invalid.")
    presigned = signed(S3SigV4QueryAuth(temp, "s3", "us-east-1", expires=60), "GET",
                       "https://localhost:4566/bucket/key")
    assert check(presigned, session_token_required=True).security_token == "SESSION-TOKEN"


# -- speed --------------------------------------------------------------------

def test_small_request_is_fast():
    request = sts_request()
    cred = parse_credential(request)
    now = time.time()
    verify(request, cred, SECRET, wall_now=now, clock_now=now)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        verify(request, cred, SECRET, wall_now=now, clock_now=now)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 100e-6, f"{per_call * 1e6:.1f} µs per verification"
