"""A bucket's website endpoint: index and error documents, redirects
(all requests, routing rules, per object, folders), anonymous access
decided by the bucket policy, HTML error pages."""

from __future__ import annotations

import http.client
import json

import pytest

SITE = "site.s3-website.localhost"
PUBLIC_READ = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]}


def get(cloudlet, path: str, host: str = SITE, method: str = "GET", headers: dict | None = None):
    """(status, headers, body) of a plain, unsigned request, as a browser sends it."""
    port = int(cloudlet.endpoint.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers={"Host": f"{host}:{port}", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    client.create_bucket(Bucket="site")
    client.put_public_access_block(Bucket="site", PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    client.put_bucket_policy(Bucket="site", Policy=json.dumps(PUBLIC_READ))
    client.put_bucket_website(Bucket="site", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    page = {"ContentType": "text/html"}
    client.put_object(Bucket="site", Key="index.html", Body=b"<h1>home</h1>", **page)
    client.put_object(Bucket="site", Key="docs/index.html", Body=b"<h1>docs</h1>", **page)
    client.put_object(Bucket="site", Key="docs/guide.html", Body=b"<h1>guide</h1>", **page)
    client.put_object(Bucket="site", Key="404.html", Body=b"<h1>not here</h1>", **page)
    return client


def test_index_documents_and_objects(cloudlet, s3):
    status, headers, body = get(cloudlet, "/")
    assert (status, body, headers["content-type"]) == (200, b"<h1>home</h1>", "text/html")
    assert get(cloudlet, "/docs/")[::2] == (200, b"<h1>docs</h1>")
    assert get(cloudlet, "/docs/guide.html")[::2] == (200, b"<h1>guide</h1>")
    # the other endpoint names, and HEAD
    assert get(cloudlet, "/", host="site.s3-website-us-east-1.localhost")[::2] == (200, b"<h1>home</h1>")
    assert get(cloudlet, "/", host="site.s3-website.us-east-1.localhost")[::2] == (200, b"<h1>home</h1>")
    status, headers, body = get(cloudlet, "/docs/guide.html", method="HEAD")
    assert (status, headers["content-length"], body) == (200, "14", b"")
    # a folder without its slash is sent to it
    status, headers, _ = get(cloudlet, "/docs")
    assert (status, headers["location"]) == (302, "/docs/")
    # conditions and ranges as on GetObject
    etag = s3.head_object(Bucket="site", Key="docs/guide.html")["ETag"]
    assert get(cloudlet, "/docs/guide.html", headers={"If-None-Match": etag})[0] == 304
    assert get(cloudlet, "/docs/guide.html", headers={"Range": "bytes=4-8"})[::2] == (206, b"guide")


def test_missing_keys_answer_the_error_document_with_404(cloudlet, s3):
    status, headers, body = get(cloudlet, "/nope.html")
    assert (status, body, headers["content-type"]) == (404, b"<h1>not here</h1>", "text/html")
    s3.delete_object(Bucket="site", Key="404.html")
    status, headers, body = get(cloudlet, "/nope.html")
    assert (status, headers["content-type"]) == (404, "text/html; charset=utf-8")
    text = body.decode()
    assert text.startswith("<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>404 Not Found</h1>\n<ul>\n"
                           "<li>Code: NoSuchKey</li>\n<li>Message: The specified key does not exist.</li>\n"
                           "<li>Key: nope.html</li>\n<li>RequestId: ")
    assert "<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n<ul>\n" \
           "<li>Code: NoSuchKey</li>" in text


def test_what_the_bucket_policy_does_not_open_is_forbidden(cloudlet, s3):
    s3.delete_bucket_policy(Bucket="site")
    status, _, body = get(cloudlet, "/")
    assert status == 403
    assert "<li>Code: AccessDenied</li>\n<li>Message: Access Denied</li>" in body.decode()
    # (the error document is not readable either)
    assert "<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>" in body.decode()


def test_redirects(cloudlet, s3):
    s3.put_object(Bucket="site", Key="old.html", Body=b"", WebsiteRedirectLocation="/docs/guide.html")
    status, headers, _ = get(cloudlet, "/old.html")
    assert (status, headers["location"]) == (301, "/docs/guide.html")

    s3.put_bucket_website(Bucket="site", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"},
        "RoutingRules": [
            {"Condition": {"KeyPrefixEquals": "docs/"},
             "Redirect": {"ReplaceKeyPrefixWith": "documents/", "HttpRedirectCode": "302"}},
            {"Condition": {"HttpErrorCodeReturnedEquals": "404"},
             "Redirect": {"HostName": "example.com", "Protocol": "https", "ReplaceKeyWith": "missing"}}]})
    status, headers, _ = get(cloudlet, "/docs/guide.html")
    assert (status, headers["location"]) == (302, f"http://{SITE}:{cloudlet.endpoint.rsplit(':', 1)[1]}"
                                                  "/documents/guide.html")
    status, headers, _ = get(cloudlet, "/gone.html")
    assert (status, headers["location"]) == (301, "https://example.com/missing")
    assert get(cloudlet, "/")[::2] == (200, b"<h1>home</h1>")

    s3.put_bucket_website(Bucket="site", WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}})
    status, headers, _ = get(cloudlet, "/docs/guide.html?x=1")
    assert (status, headers["location"]) == (301, "https://www.example.com/docs/guide.html")


def test_endpoint_errors(cloudlet, s3):
    status, headers, body = get(cloudlet, "/", method="POST")
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert "<li>Code: MethodNotAllowed</li>" in body.decode()
    status, _, body = get(cloudlet, "/", host="nobucket.s3-website.localhost")
    assert status == 404 and "<li>Code: NoSuchBucket</li>" in body.decode()
    s3.create_bucket(Bucket="plain")
    status, _, body = get(cloudlet, "/", host="plain.s3-website.localhost")
    assert status == 404 and "<li>Code: NoSuchWebsiteConfiguration</li>" in body.decode()
    # The REST endpoint of the same bucket is still the API.
    status, _, body = get(cloudlet, "/", host="site.s3.localhost")
    assert status == 403 and body.startswith(b"<?xml")
