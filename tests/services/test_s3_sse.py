"""Encryption at rest through boto3: SSE-S3 for every object by default,
SSE-KMS (and DSSE-KMS) through real KMS calls made as the requester via
S3, SSE-C with the customer's key, bucket default encryption, copies that
re-encrypt; and, reading the data directory itself, that no plaintext body
and no customer key is ever stored, and an SSE-C object cannot be read
without its key."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import orjson
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudlet.services.kms.crypto import SealedDataError
from cloudlet.services.s3 import objectdata
from tests.services.s3_object_helpers import (
    b64,
    error,
    etag,
    files_containing,
    headers_of,
    make_bucket,
    random_body,
    with_headers,
)

BUCKET = "sse-bucket"
NOT_ALLOWED_TO_READ = ("The object was stored using a form of Server Side Encryption. The correct parameters must be "
                       "provided to retrieve the object.")
WRONG_KEY = "Requests specifying Server Side Encryption with Customer provided keys must provide the correct secret key."


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    make_bucket(client, BUCKET)
    return client


@pytest.fixture
def kms(cloudlet):
    return cloudlet.client("kms")


def stored_sse(cloudlet, key: str, bucket: str = BUCKET) -> dict:
    row = cloudlet.cloud.storage.one("SELECT sse FROM s3_objects WHERE bucket = ? AND key = ? AND is_latest = 1",
                                     (bucket, key))
    return orjson.loads(row[0])


def sse_c(key: bytes) -> dict:
    return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key}


# -- SSE-S3 ---------------------------------------------------------------------------------

def test_every_object_is_encrypted_at_rest(cloudlet, s3):
    body = random_body(256 * 1024)
    out = s3.put_object(Bucket=BUCKET, Key="secret", Body=body)
    assert out["ServerSideEncryption"] == "AES256"
    assert out["ETag"] == etag(body)               # SSE-S3 ETags are the MD5
    assert s3.get_object(Bucket=BUCKET, Key="secret")["Body"].read() == body
    data_dir = cloudlet.cloud.data_dir
    for probe in (body[:64], body[100_000:100_064], body[-64:]):
        assert files_containing(data_dir, probe) == []
    sse = stored_sse(cloudlet, "secret")
    assert sse["alg"] == "AES256"
    assert len(base64.b64decode(sse["key"])) == 1 + 12 + 32 + 16      # sealed, not the key itself


def test_sealed_key_is_bound_to_its_object(cloudlet, s3):
    s3.put_object(Bucket=BUCKET, Key="one", Body=b"first object")
    s3.put_object(Bucket=BUCKET, Key="two", Body=b"second object")
    storage = cloudlet.cloud.storage
    sse_one = storage.one("SELECT sse FROM s3_objects WHERE bucket = ? AND key = 'one'", (BUCKET,))[0]
    with storage.tx():   # move object one's sealed key onto object two
        storage.execute("UPDATE s3_objects SET sse = ? WHERE bucket = ? AND key = 'two'", (sse_one, BUCKET))
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="two")
    assert error(exc) == {"Code": "InternalError", "Message": "We encountered an internal error. Please try again.",
                          "Status": 500}


def test_read_with_sse_headers_is_refused(s3):
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    with_headers(s3, "GetObject", {"x-amz-server-side-encryption": "AES256"})
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k")
    assert error(exc) == {"Code": "InvalidArgument", "Status": 400, "ArgumentName": "x-amz-server-side-encryption",
                          "ArgumentValue": "AES256",
                          "Message": "x-amz-server-side-encryption header is not supported for this operation."}


@pytest.mark.parametrize("value", ["aws:fsx", "aws:backup"])
def test_unsupported_sse_values(s3, value):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption=value)
    assert error(exc) == {"Code": "InvalidArgument", "Message": "The encryption method specified is not supported",
                          "ArgumentName": "x-amz-server-side-encryption", "ArgumentValue": value, "Status": 400}


# -- SSE-C ----------------------------------------------------------------------------------

def test_sse_c_round_trip_and_errors(cloudlet, s3):
    key, other = os.urandom(32), os.urandom(32)
    body = random_body(100_000)
    out = s3.put_object(Bucket=BUCKET, Key="c", Body=body, **sse_c(key))
    md5 = b64(hashlib.md5(key).digest())
    assert (out["SSECustomerAlgorithm"], out["SSECustomerKeyMD5"]) == ("AES256", md5)
    assert "ServerSideEncryption" not in out
    assert out["ETag"] != etag(body)               # SSE-C ETags are not the MD5 of the data

    got = s3.get_object(Bucket=BUCKET, Key="c", **sse_c(key))
    assert got["Body"].read() == body
    assert (got["SSECustomerAlgorithm"], got["SSECustomerKeyMD5"], got["ETag"]) == ("AES256", md5, out["ETag"])
    ranged = s3.get_object(Bucket=BUCKET, Key="c", Range="bytes=10-19", **sse_c(key))
    assert ranged["Body"].read() == body[10:20]
    head = s3.head_object(Bucket=BUCKET, Key="c", **sse_c(key))
    assert head["ContentLength"] == len(body)

    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="c")
    assert error(exc) == {"Code": "InvalidRequest", "Message": NOT_ALLOWED_TO_READ, "Status": 400}
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="c", **sse_c(other))
    assert error(exc) == {"Code": "AccessDenied", "Message": WRONG_KEY, "Status": 403}
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="c")
    assert error(exc)["Status"] == 400
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="c", **sse_c(other))
    assert error(exc)["Status"] == 403
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=BUCKET, Key="c", ObjectAttributes=["ObjectSize"])
    assert error(exc)["Message"] == NOT_ALLOWED_TO_READ
    # (botocore does not encode the key for GetObjectAttributes: sent as S3 wants it)
    assert s3.get_object_attributes(Bucket=BUCKET, Key="c", ObjectAttributes=["ObjectSize"],
                                    SSECustomerAlgorithm="AES256", SSECustomerKey=b64(key),
                                    SSECustomerKeyMD5=md5)["ObjectSize"] == len(body)


def test_sse_c_object_is_unreadable_without_its_key(cloudlet, s3):
    key = os.urandom(32)
    body = random_body(50_000)
    s3.put_object(Bucket=BUCKET, Key="c", Body=body, **sse_c(key))
    data_dir = cloudlet.cloud.data_dir
    # neither the data nor the key (raw or as sent) is anywhere on disk
    assert files_containing(data_dir, body[:64]) == []
    assert files_containing(data_dir, key) == []
    assert files_containing(data_dir, base64.b64encode(key)) == []
    # everything S3 itself holds (its master key, the row) does not open the data key
    service = cloudlet.cloud.service("s3")
    sse = stored_sse(cloudlet, "c")
    assert sse["alg"] == "SSE-C"
    aad = f"s3:{BUCKET}/c:{sse['oid']}".encode()
    with pytest.raises(SealedDataError):
        service.master.open(base64.b64decode(sse["key"]), aad)

    with pytest.raises(objectdata.CorruptData):
        objectdata.unwrap_key(AESGCM(os.urandom(32)), sse["key"], aad)
    # with the customer's key it does
    data_key = objectdata.unwrap_key(AESGCM(key), sse["key"], aad)
    row = cloudlet.cloud.storage.one("SELECT pieces FROM s3_objects WHERE bucket = ? AND key = 'c'", (BUCKET,))
    pieces = orjson.loads(row[0])
    assert b"".join(objectdata.read_pieces(cloudlet.cloud.service("s3").object_blobs, pieces, data_key)) == body


def test_sse_c_header_errors(s3):
    key = os.urandom(32)
    cases = [
        ({"SSECustomerAlgorithm": "AES128", "SSECustomerKey": key}, "InvalidEncryptionAlgorithmError",
         "The Encryption request you specified is not valid. Supported value: AES256.", "AES128"),
        # (botocore leaves the key as given when the caller names the MD5)
        ({"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b64(key), "SSECustomerKeyMD5": b64(b"0" * 16)},
         "InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was provided.", "null"),
        ({"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(16)}, "InvalidArgument",
         "The secret key was invalid for the specified algorithm.", "null"),
        ({"SSECustomerAlgorithm": "AES256", "SSECustomerKey": key, "ServerSideEncryption": "AES256"}, "InvalidArgument",
         "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
         "AES256"),
    ]
    for kwargs, code, message, value in cases:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", **kwargs)
        assert error(exc) == {"Code": code, "Message": message, "Status": 400,
                              "ArgumentName": "x-amz-server-side-encryption", "ArgumentValue": value}


def test_sse_c_key_without_algorithm(s3):
    key = os.urandom(32)
    with_headers(s3, "PutObject", {
        "x-amz-server-side-encryption-customer-key": b64(key),
        "x-amz-server-side-encryption-customer-key-MD5": b64(hashlib.md5(key).digest())})
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert error(exc)["Message"] == ("Requests specifying Server Side Encryption with Customer provided keys must "
                                     "provide a valid encryption algorithm.")


def test_sse_c_headers_on_an_object_that_has_none(s3):
    s3.put_object(Bucket=BUCKET, Key="plain", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="plain", **sse_c(os.urandom(32)))
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "The encryption parameters are not applicable to this object."}


def test_each_version_has_its_own_customer_key(s3):
    make_bucket(s3, "sse-versions", versioning="Enabled")
    k1, k2 = os.urandom(32), os.urandom(32)
    v1 = s3.put_object(Bucket="sse-versions", Key="k", Body=b"one", **sse_c(k1))["VersionId"]
    s3.put_object(Bucket="sse-versions", Key="k", Body=b"two", **sse_c(k2))
    assert s3.get_object(Bucket="sse-versions", Key="k", VersionId=v1, **sse_c(k1))["Body"].read() == b"one"
    assert s3.get_object(Bucket="sse-versions", Key="k", **sse_c(k2))["Body"].read() == b"two"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="sse-versions", Key="k", **sse_c(k1))
    assert error(exc)["Status"] == 403


# -- SSE-KMS --------------------------------------------------------------------------------

def test_sse_kms_with_the_aws_managed_key(cloudlet, s3, kms):
    body = random_body(20_000)
    out = s3.put_object(Bucket=BUCKET, Key="k", Body=body, ServerSideEncryption="aws:kms")
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert (out["ServerSideEncryption"], out["SSEKMSKeyId"]) == ("aws:kms", managed["Arn"])
    assert "BucketKeyEnabled" not in out
    assert out["ETag"] != etag(body)
    got = s3.get_object(Bucket=BUCKET, Key="k")
    assert got["Body"].read() == body
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", managed["Arn"])
    assert files_containing(cloudlet.cloud.data_dir, body[:64]) == []


def test_sse_kms_encryption_context(cloudlet, s3, kms):
    key = kms.create_key()["KeyMetadata"]
    context = {"project": "apollo"}
    out = s3.put_object(Bucket=BUCKET, Key="ctx", Body=b"payload", ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key["KeyId"], SSEKMSEncryptionContext=b64(json.dumps(context).encode()))
    assert out["SSEKMSKeyId"] == key["Arn"]
    full = {"project": "apollo", "aws:s3:arn": f"arn:aws:s3:::{BUCKET}/ctx"}
    assert json.loads(base64.b64decode(out["SSEKMSEncryptionContext"])) == full
    # GET and HEAD never return the context
    assert "SSEKMSEncryptionContext" not in s3.head_object(Bucket=BUCKET, Key="ctx")
    # the stored data key is a KMS ciphertext under exactly S3's context
    blob = base64.b64decode(stored_sse(cloudlet, "ctx")["blob"])
    assert len(kms.decrypt(CiphertextBlob=blob, EncryptionContext=full)["Plaintext"]) == 32
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"aws:s3:arn": f"arn:aws:s3:::{BUCKET}/ctx"})
    assert exc.value.response["Error"]["Code"] == "InvalidCiphertextException"
    assert s3.get_object(Bucket=BUCKET, Key="ctx")["Body"].read() == b"payload"


def test_sse_kms_bucket_key_uses_the_bucket_arn(cloudlet, s3, kms):
    key = kms.create_key()["KeyMetadata"]
    out = s3.put_object(Bucket=BUCKET, Key="bk", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"],
                        BucketKeyEnabled=True)
    assert out["BucketKeyEnabled"] is True
    assert s3.head_object(Bucket=BUCKET, Key="bk")["BucketKeyEnabled"] is True
    blob = base64.b64decode(stored_sse(cloudlet, "bk")["blob"])
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"aws:s3:arn": f"arn:aws:s3:::{BUCKET}"})


def test_dsse_kms(s3, kms):
    key = kms.create_key()["KeyMetadata"]
    out = s3.put_object(Bucket=BUCKET, Key="d", Body=b"double", ServerSideEncryption="aws:kms:dsse",
                        SSEKMSKeyId=key["Arn"], BucketKeyEnabled=True)
    assert (out["ServerSideEncryption"], out["SSEKMSKeyId"]) == ("aws:kms:dsse", key["Arn"])
    assert "BucketKeyEnabled" not in out            # no S3 Bucket Keys for DSSE-KMS
    assert s3.get_object(Bucket=BUCKET, Key="d")["Body"].read() == b"double"


def test_kms_key_errors(s3, kms):
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="alias/does-not-exist")
    assert error(exc)["Code"] == "KMS.NotFoundException"
    assert error(exc)["Status"] == 400
    key = kms.create_key()["KeyMetadata"]
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    kms.disable_key(KeyId=key["KeyId"])
    for call in (lambda: s3.get_object(Bucket=BUCKET, Key="k"),
                 lambda: s3.put_object(Bucket=BUCKET, Key="k2", Body=b"x", ServerSideEncryption="aws:kms",
                                       SSEKMSKeyId=key["Arn"])):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == {"Code": "KMS.DisabledException", "Message": f"{key['Arn']} is disabled.",
                              "Status": 400}
    kms.enable_key(KeyId=key["KeyId"])
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"x"


def test_kms_key_id_needs_aws_kms(s3):
    for kwargs in ({"SSEKMSKeyId": "alias/aws/s3"}, {"ServerSideEncryption": "AES256", "SSEKMSKeyId": "k"}):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", **kwargs)
        assert error(exc)["Code"] == "InvalidArgument"
        assert error(exc)["Message"] == ("Server Side Encryption with AWS KMS managed key requires HTTP header "
                                         "x-amz-server-side-encryption : aws:kms")


def test_kms_access_is_the_requesters_through_s3(cloudlet, kms):
    iam = cloudlet.client("iam")
    iam.create_user(UserName="uploader")
    iam.put_user_policy(UserName="uploader", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    creds = iam.create_access_key(UserName="uploader")["AccessKey"]
    user_s3 = cloudlet.client("s3", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"])
    user_kms = cloudlet.client("kms", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"])
    root_s3 = cloudlet.client("s3")
    make_bucket(root_s3, BUCKET)
    key = kms.create_key()["KeyMetadata"]
    user_arn = iam.get_user(UserName="uploader")["User"]["Arn"]

    with pytest.raises(ClientError) as exc:
        user_s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                           SSEKMSKeyId=key["Arn"])
    assert error(exc)["Code"] == "AccessDenied"
    assert error(exc)["Status"] == 403
    assert "kms:GenerateDataKey" in error(exc)["Message"]

    # allowed to use the key only through S3 in this region
    iam.put_user_policy(UserName="uploader", PolicyName="kms-via-s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key["Arn"],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]}))
    user_s3.put_object(Bucket=BUCKET, Key="k", Body=b"secret", ServerSideEncryption="aws:kms",
                       SSEKMSKeyId=key["Arn"])
    assert user_s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"secret"
    with pytest.raises(ClientError) as exc:
        user_kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert user_arn in exc.value.response["Error"]["Message"]


# -- bucket default encryption ----------------------------------------------------------------

def test_bucket_default_encryption(s3, kms):
    key = kms.create_key()["KeyMetadata"]
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]},
        "BucketKeyEnabled": True}]})
    out = s3.put_object(Bucket=BUCKET, Key="default", Body=b"x")
    assert (out["ServerSideEncryption"], out["SSEKMSKeyId"], out["BucketKeyEnabled"]) == ("aws:kms", key["Arn"],
                                                                                          True)
    explicit = s3.put_object(Bucket=BUCKET, Key="explicit", Body=b"x", ServerSideEncryption="AES256")
    assert explicit["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in explicit
    s3.delete_bucket_encryption(Bucket=BUCKET)
    assert s3.put_object(Bucket=BUCKET, Key="after", Body=b"x")["ServerSideEncryption"] == "AES256"


# -- copies re-encrypt -----------------------------------------------------------------------

def test_copy_between_encryptions(s3, kms):
    source_key, target_key = os.urandom(32), os.urandom(32)
    body = random_body(10_000)
    s3.put_object(Bucket=BUCKET, Key="src", Body=body, **sse_c(source_key))
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="plain", CopySource=f"{BUCKET}/src")
    assert error(exc) == {"Code": "InvalidRequest", "Message": NOT_ALLOWED_TO_READ, "Status": 400}
    source_headers = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": source_key}
    plain = s3.copy_object(Bucket=BUCKET, Key="plain", CopySource=f"{BUCKET}/src", **source_headers)
    assert plain["ServerSideEncryption"] == "AES256"
    assert plain["CopyObjectResult"]["ETag"] == etag(body)
    assert s3.get_object(Bucket=BUCKET, Key="plain")["Body"].read() == body

    kms_key = kms.create_key()["KeyMetadata"]
    to_kms = s3.copy_object(Bucket=BUCKET, Key="kms", CopySource=f"{BUCKET}/plain", ServerSideEncryption="aws:kms",
                            SSEKMSKeyId=kms_key["Arn"])
    assert (to_kms["ServerSideEncryption"], to_kms["SSEKMSKeyId"]) == ("aws:kms", kms_key["Arn"])
    assert s3.get_object(Bucket=BUCKET, Key="kms")["Body"].read() == body

    to_c = s3.copy_object(Bucket=BUCKET, Key="c2", CopySource=f"{BUCKET}/kms", **sse_c(target_key))
    assert to_c["SSECustomerKeyMD5"] == b64(hashlib.md5(target_key).digest())
    assert s3.get_object(Bucket=BUCKET, Key="c2", **sse_c(target_key))["Body"].read() == body
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="x", CopySource=f"{BUCKET}/src",
                       **{**source_headers, "CopySourceSSECustomerKey": target_key})
    assert error(exc)["Status"] == 403

    # changing only the encryption makes a copy onto itself legal
    again = s3.copy_object(Bucket=BUCKET, Key="plain", CopySource=f"{BUCKET}/plain", ServerSideEncryption="AES256")
    assert again["ServerSideEncryption"] == "AES256"
    assert headers_of(again)["x-amz-server-side-encryption"] == "AES256"
