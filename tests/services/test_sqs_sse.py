"""SQS server-side encryption: SSE-KMS with data keys from cloudlet's KMS
(the caller's kms:GenerateDataKey / kms:Decrypt through SQS, reused for
the queue's KmsDataKeyReusePeriodSeconds), SSE-SQS with SQS's own key,
nothing in plaintext on disk, and SQS's Kms* errors."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs_clients import sqs_client
from tests.services.test_iam_enforcement import allow, doc, error, user_with

A = "000000000000"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
SUFFIX = r" \(Service: AWSKMS; Status Code: 400; Error Code: {code}; Request ID: " + UUID + r"; Proxy: null\)"


@pytest.fixture
def kms(cloudlet):
    return cloudlet.client("kms")


def kms_suffix(code: str) -> str:
    return SUFFIX.replace("{code}", code)


def secret() -> str:
    return f"cloudlet-secret-{uuid.uuid4()}"


def on_disk(cloudlet) -> bytes:
    """The SQLite database and its write-ahead log, as bytes."""
    data = b""
    for path in sorted(Path(cloudlet.settings.data_dir).glob("cloudlet.db*")):
        data += path.read_bytes()
    return data


def rows(cloudlet, sql: str, params=()) -> list:
    with sqlite3.connect(Path(cloudlet.settings.data_dir) / "cloudlet.db") as db:
        return db.execute(sql, params).fetchall()


def attrs_of(sqs, url: str) -> dict:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def receive_one(sqs, url: str, **kw) -> dict:
    [msg] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], **kw)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return msg


# -- attributes ----------------------------------------------------------------

def test_encryption_attributes(sqs, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    url = sqs.create_queue(QueueName="kms-attrs", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    got = attrs_of(sqs, url)
    assert (got["KmsMasterKeyId"], got["KmsDataKeyReusePeriodSeconds"], got["SqsManagedSseEnabled"]) == (
        key, "300", "false")
    default = sqs.create_queue(QueueName="sse-default")["QueueUrl"]
    got = attrs_of(sqs, default)
    assert got["SqsManagedSseEnabled"] == "true"
    assert "KmsMasterKeyId" not in got and "KmsDataKeyReusePeriodSeconds" not in got
    # One kind of SSE at a time, within a request.
    for call in (lambda a: sqs.create_queue(QueueName="both", Attributes=a),
                 lambda a: sqs.set_queue_attributes(QueueUrl=default, Attributes=a)):
        with pytest.raises(ClientError) as exc:
            call({"SqsManagedSseEnabled": "true", "KmsMasterKeyId": "alias/aws/sqs"})
        assert error(exc) == ("InvalidAttributeName", 400, "You can use one type of server-side encryption (SSE) "
                                                           "at one time. You can either enable KMS SSE or SQS SSE.")
    # A KMS key turns SSE-SQS off; SSE-SQS turned back on drops the key.
    sqs.set_queue_attributes(QueueUrl=default, Attributes={"KmsMasterKeyId": "alias/aws/sqs",
                                                           "KmsDataKeyReusePeriodSeconds": "60"})
    got = attrs_of(sqs, default)
    assert (got["KmsMasterKeyId"], got["KmsDataKeyReusePeriodSeconds"], got["SqsManagedSseEnabled"]) == (
        "alias/aws/sqs", "60", "false")
    sqs.set_queue_attributes(QueueUrl=default, Attributes={"SqsManagedSseEnabled": "true"})
    got = attrs_of(sqs, default)
    assert got["SqsManagedSseEnabled"] == "true"
    assert "KmsMasterKeyId" not in got and "KmsDataKeyReusePeriodSeconds" not in got
    for bad in ("59", "86401"):
        with pytest.raises(ClientError) as exc:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsDataKeyReusePeriodSeconds": bad})
        assert error(exc) == ("InvalidAttributeValue", 400,
                              "Invalid value for the parameter KmsDataKeyReusePeriodSeconds.")


# -- round trips ---------------------------------------------------------------

@pytest.mark.parametrize("key_form", ["id", "arn", "alias", "alias-arn", "aws-managed"])
def test_sse_kms_round_trip(sqs, kms, key_form):
    meta = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/queues", TargetKeyId=meta["KeyId"])
    given = {"id": meta["KeyId"], "arn": meta["Arn"], "alias": "alias/queues",
             "alias-arn": f"arn:aws:kms:us-east-1:{A}:alias/queues", "aws-managed": "alias/aws/sqs"}[key_form]
    url = sqs.create_queue(QueueName="kms-trip", Attributes={"KmsMasterKeyId": given})["QueueUrl"]
    body = secret()
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
        "Kind": {"DataType": "String", "StringValue": "invoice"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}})
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": body + "-a"}, {"Id": "b", "MessageBody": body + "-b"}])
    assert [e["Id"] for e in batch["Successful"]] == ["a", "b"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    by_body = {m["Body"]: m for m in got}
    assert sorted(by_body) == [body, body + "-a", body + "-b"]
    first = by_body[body]
    assert first["MessageId"] == sent["MessageId"]
    assert first["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert first["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert first["MessageAttributes"] == {"Kind": {"StringValue": "invoice", "DataType": "String"},
                                          "Blob": {"BinaryValue": b"\x00\xff", "DataType": "Binary"}}
    if key_form == "aws-managed":
        # KMS made the AWS managed key on SQS's first use of it.
        alias = kms.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]
        assert alias["KeyManager"] == "AWS"


def test_fifo_queue_with_sse_kms(sqs, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    url = sqs.create_queue(QueueName="kms.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", "KmsMasterKeyId": key})["QueueUrl"]
    first = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g")
    again = sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g")
    assert again["MessageId"] == first["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["one", "two"]


def test_nothing_readable_on_disk(sqs, kms, cloudlet):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    queues = {"kms": {"KmsMasterKeyId": key}, "sqs": {"SqsManagedSseEnabled": "true"},
              "plain": {"SqsManagedSseEnabled": "false"}}
    bodies = {}
    for kind, attributes in queues.items():
        url = sqs.create_queue(QueueName=f"disk-{kind}", Attributes=attributes)["QueueUrl"]
        body, tag = secret(), secret()
        sqs.send_message(QueueUrl=url, MessageBody=body,
                         MessageAttributes={"Tag": {"DataType": "String", "StringValue": tag}})
        bodies[kind] = (url, body, tag)
    # Each queue's rows as stored: plaintext, SSE-SQS (0), a KMS data key.
    stored = rows(cloudlet, "SELECT q.name, m.data_key, m.body, m.attributes FROM sqs_messages m "
                            "JOIN sqs_queues q ON q.id = m.queue_id WHERE q.name LIKE 'disk-%' ORDER BY q.name")
    assert [(name, "kms" if data_key and data_key > 0 else data_key, body == "", attributes is None)
            for name, data_key, body, attributes in stored] == [
        ("disk-kms", "kms", True, True), ("disk-plain", None, False, False), ("disk-sqs", 0, True, True)]
    # SSE-SQS's key is SQS's own: a master key file beside the database.
    master = Path(cloudlet.settings.data_dir) / "sqs-master.key"
    assert (master.stat().st_mode & 0o777, master.stat().st_size) == (0o600, 32)
    disk = on_disk(cloudlet)
    # The unencrypted queue shows the search would find a body.
    assert bodies["plain"][1].encode() in disk and bodies["plain"][2].encode() in disk
    for kind in ("kms", "sqs"):
        url, body, tag = bodies[kind]
        assert body.encode() not in disk and tag.encode() not in disk
        msg = receive_one(sqs, url)
        assert (msg["Body"], msg["MessageAttributes"]["Tag"]["StringValue"]) == (body, tag)


def test_plaintext_rows_stay_readable_across_encryption_changes(sqs, kms, cloudlet):
    """Each row records how it was stored: messages sent before encryption
    was turned on (or changed) still read back."""
    url = sqs.create_queue(QueueName="changing", Attributes={"SqsManagedSseEnabled": "false"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="plain")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true"})
    sqs.send_message(QueueUrl=url, MessageBody="sse-sqs")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": key})
    sqs.send_message(QueueUrl=url, MessageBody="sse-kms")
    stored = rows(cloudlet, "SELECT body, data_key FROM sqs_messages ORDER BY id")
    assert [(body, data_key if data_key in (None, 0) else "kms") for body, data_key in stored] == [
        ("plain", None), ("", 0), ("", "kms")]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["plain", "sse-kms", "sse-sqs"]


# -- permissions -----------------------------------------------------------------

def test_kms_permissions_of_producers_and_consumers(cloudlet, kms):
    """A producer needs kms:GenerateDataKey and kms:Decrypt on the key, a
    consumer kms:Decrypt (the SQS Developer Guide's key management page);
    SQS answers KMS.AccessDeniedException with KMS's words."""
    sqs = cloudlet.client("sqs")
    key = kms.create_key()["KeyMetadata"]
    url = sqs.create_queue(QueueName="guarded", Attributes={"KmsMasterKeyId": key["KeyId"]})["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{A}:guarded"
    queue_only = allow(["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"], queue_arn)
    me, arn = user_with(cloudlet, "producer", doc(queue_only))
    with pytest.raises(ClientError) as exc:
        me("sqs").send_message(QueueUrl=url, MessageBody="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMS.AccessDeniedException", 400)
    assert re.fullmatch(re.escape(f"User: {arn} is not authorized to perform: kms:GenerateDataKey on resource: "
                                  f"{key['Arn']} because no identity-based policy allows the kms:GenerateDataKey "
                                  "action") + kms_suffix("AccessDeniedException"), message), message
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-query-error"] == \
        "KMS.AccessDeniedException;Sender"
    # GenerateDataKey alone is not enough: SQS checks the new data key with Decrypt.
    half, half_arn = user_with(cloudlet, "half", doc(queue_only, allow("kms:GenerateDataKey", key["Arn"])))
    with pytest.raises(ClientError) as exc:
        half("sqs").send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}])
    code, status, message = error(exc)
    assert (code, status) == ("KMS.AccessDeniedException", 400)
    assert message.startswith(f"User: {half_arn} is not authorized to perform: kms:Decrypt on resource: {key['Arn']}")
    full, _ = user_with(cloudlet, "full", doc(queue_only, allow(["kms:GenerateDataKey", "kms:Decrypt"], key["Arn"])))
    full("sqs").send_message(QueueUrl=url, MessageBody="sent by full")
    # A consumer without kms:Decrypt takes nothing: the message stays.
    with pytest.raises(ClientError) as exc:
        me("sqs").receive_message(QueueUrl=url)
    code, status, message = error(exc)
    assert (code, status) == ("KMS.AccessDeniedException", 400)
    assert message.startswith(f"User: {arn} is not authorized to perform: kms:Decrypt on resource: {key['Arn']}")
    assert [m["Body"] for m in full("sqs").receive_message(QueueUrl=url)["Messages"]] == ["sent by full"]


def test_query_protocol_kms_errors(cloudlet, kms, query_models):
    sqs = sqs_client(cloudlet.endpoint, "query", query_models)
    url = sqs.create_queue(QueueName="nowhere", Attributes={"KmsMasterKeyId": "alias/missing"})["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMS.NotFoundException", 400)
    assert re.fullmatch(re.escape(f"Alias arn:aws:kms:us-east-1:{A}:alias/missing is not found.")
                        + kms_suffix("NotFoundException"), message), message


def test_a_key_that_cannot_make_data_keys(cloudlet, kms):
    sqs = cloudlet.client("sqs")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    url = sqs.create_queue(QueueName="signing-key", Attributes={"KmsMasterKeyId": key["Arn"]})["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMS.InvalidKeyUsageException", 400)
    assert re.fullmatch(re.escape(f"{key['Arn']} key usage is SIGN_VERIFY which is not valid for GenerateDataKey.")
                        + kms_suffix("InvalidKeyUsageException"), message), message


def test_the_aws_managed_key_serves_every_principal_of_the_account(cloudlet):
    """Its policy allows the account's principals through SQS, so IAM
    permissions for SQS are all a user needs (the guide says so)."""
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName="managed", Attributes={"KmsMasterKeyId": "alias/aws/sqs"})["QueueUrl"]
    me, _ = user_with(cloudlet, "plain-user", doc(allow(["sqs:SendMessage", "sqs:ReceiveMessage"],
                                                        f"arn:aws:sqs:us-east-1:{A}:managed")))
    me("sqs").send_message(QueueUrl=url, MessageBody="through sqs")
    assert me("sqs").receive_message(QueueUrl=url)["Messages"][0]["Body"] == "through sqs"
    # Directly, not through SQS, the same user may not use the key.
    with pytest.raises(ClientError) as exc:
        me("kms").generate_data_key(KeyId="alias/aws/sqs", KeySpec="AES_256")
    assert error(exc)[0] == "AccessDeniedException"


# -- key states and the data key reuse period -------------------------------------

def test_disabled_key_and_the_data_key_reuse_period(cloudlet, kms):
    """A data key is reused for KmsDataKeyReusePeriodSeconds without asking
    KMS again, so disabling the KMS key stops sends (and receives) only
    once the period of the data keys in use ends; each requester has its
    own data keys."""
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    sqs = cloudlet.client("sqs")
    key = kms.create_key()["KeyMetadata"]
    url = sqs.create_queue(QueueName="reuse", Attributes={"KmsMasterKeyId": key["KeyId"],
                                                          "KmsDataKeyReusePeriodSeconds": "60"})["QueueUrl"]
    other, _ = user_with(cloudlet, "other", doc(allow("sqs:*", f"arn:aws:sqs:us-east-1:{A}:reuse"),
                                                allow(["kms:GenerateDataKey", "kms:Decrypt"], key["Arn"])))
    sqs.send_message(QueueUrl=url, MessageBody="before")
    assert receive_one(sqs, url)["Body"] == "before"
    sqs.send_message(QueueUrl=url, MessageBody="cached for reading")
    kms.disable_key(KeyId=key["KeyId"])
    cloudlet.clock.advance(59)
    # Within the period: the root user's data keys still work, both ways.
    sqs.send_message(QueueUrl=url, MessageBody="still within the period")
    assert receive_one(sqs, url)["Body"] == "cached for reading"
    # Another requester has no data key yet: KMS is asked, and refuses.
    with pytest.raises(ClientError) as exc:
        other("sqs").send_message(QueueUrl=url, MessageBody="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMS.DisabledException", 400)
    assert re.fullmatch(re.escape(f"{key['Arn']} is disabled.") + kms_suffix("DisabledException"), message), message
    cloudlet.clock.advance(1)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="the period is over")
    assert error(exc)[:2] == ("KMS.DisabledException", 400)
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url)
    assert error(exc)[:2] == ("KMS.DisabledException", 400)
    kms.enable_key(KeyId=key["KeyId"])
    sqs.send_message(QueueUrl=url, MessageBody="enabled again")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["enabled again", "still within the period"]
    # Pending deletion: KMSInvalidStateException, once the period is over.
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    cloudlet.clock.advance(60)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMS.InvalidStateException", 400)
    assert re.fullmatch(re.escape(f"{key['Arn']} is pending deletion.") + kms_suffix("KMSInvalidStateException"),
                        message), message


def test_key_usage_is_asked_once_per_reuse_period(cloudlet, kms):
    """GetKeyLastUsage shows when SQS last asked KMS: not again within the
    period, again once it is over."""
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    sqs = cloudlet.client("sqs")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    url = sqs.create_queue(QueueName="usage", Attributes={"KmsMasterKeyId": key,
                                                          "KmsDataKeyReusePeriodSeconds": "120"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="1")
    first = kms.get_key_last_usage(KeyId=key)["KeyLastUsage"]
    cloudlet.clock.advance(119)
    for _ in range(5):
        sqs.send_message(QueueUrl=url, MessageBody="again")
    assert kms.get_key_last_usage(KeyId=key)["KeyLastUsage"] == first
    cloudlet.clock.advance(1)
    sqs.send_message(QueueUrl=url, MessageBody="new period")
    later = kms.get_key_last_usage(KeyId=key)["KeyLastUsage"]
    assert later["KmsRequestId"] != first["KmsRequestId"]
    assert (later["Timestamp"] - first["Timestamp"]).total_seconds() == 120


# -- dead letters ------------------------------------------------------------------

def test_dead_lettered_messages_keep_their_encryption(cloudlet, kms):
    sqs = cloudlet.client("sqs")
    key = kms.create_key()["KeyMetadata"]
    dlq = sqs.create_queue(QueueName="sse-dlq")["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:us-east-1:{A}:sse-dlq"
    src = sqs.create_queue(QueueName="sse-src", Attributes={
        "KmsMasterKeyId": key["KeyId"],
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})["QueueUrl"]
    body = secret()
    sqs.send_message(QueueUrl=src, MessageBody=body)
    sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)
    assert sqs.receive_message(QueueUrl=src).get("Messages", []) == []  # moved on this receive
    assert body.encode() not in on_disk(cloudlet)
    # Its reader needs kms:Decrypt on the source queue's key.
    reader, arn = user_with(cloudlet, "dlq-reader", doc(allow("sqs:ReceiveMessage", dlq_arn)))
    with pytest.raises(ClientError) as exc:
        reader("sqs").receive_message(QueueUrl=dlq)
    assert error(exc)[2].startswith(f"User: {arn} is not authorized to perform: kms:Decrypt on resource: "
                                    f"{key['Arn']}")
    msg = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
    assert (msg["Body"], msg["Attributes"]["DeadLetterQueueSourceArn"]) == (
        body, f"arn:aws:sqs:us-east-1:{A}:sse-src")


def test_data_keys_are_kept_while_messages_use_them(cloudlet, kms):
    """A data key's KMS ciphertext stays while any message sealed by it
    does; a day after its reuse period, one no message uses is dropped."""
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    sqs = cloudlet.client("sqs")
    key = kms.create_key()["KeyMetadata"]
    url = sqs.create_queue(QueueName="kept", Attributes={"KmsMasterKeyId": key["KeyId"],
                                                         "MessageRetentionPeriod": "1209600"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    [(data_key, queue_arn, kms_key)] = rows(cloudlet, "SELECT id, queue_arn, kms_key FROM sqs_data_keys")
    assert (queue_arn, kms_key) == (f"arn:aws:sqs:us-east-1:{A}:kept", key["Arn"])
    cloudlet.clock.advance(3 * 86_400)
    assert rows(cloudlet, "SELECT id FROM sqs_data_keys") == [(data_key,)]
    sqs.send_message(QueueUrl=url, MessageBody="new")  # a new period: a new data key
    assert len(rows(cloudlet, "SELECT id FROM sqs_data_keys")) == 2
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["new", "old"]
    old = next(m for m in got if m["Body"] == "old")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])
    cloudlet.clock.advance(60)  # the retention sweep
    assert data_key not in [r[0] for r in rows(cloudlet, "SELECT id FROM sqs_data_keys")]
    assert len(rows(cloudlet, "SELECT id FROM sqs_data_keys")) == 1


def test_messages_stored_before_encryption_existed(tmp_path):
    """A data directory from before this schema (messages in plaintext
    rows): the new migration runs, the old messages read back, new ones
    are sealed."""
    from cloudlet.services.sqs.store import MIGRATIONS
    from cloudlet.storage import Storage
    from cloudlet.testing.server import CloudletServer

    old = Storage(str(tmp_path / "cloudlet.db"))
    old.migrate("sqs", MIGRATIONS[:1])  # the schema as it was
    attributes = {"VisibilityTimeout": "30", "MaximumMessageSize": "1048576", "MessageRetentionPeriod": "345600",
                  "DelaySeconds": "0", "ReceiveMessageWaitTimeSeconds": "0", "SqsManagedSseEnabled": "true"}
    with old.tx():
        queue_id = old.scalar(
            "INSERT INTO sqs_queues (account, region, name, arn, fifo, created, modified, attributes) "
            "VALUES (?, 'us-east-1', 'legacy', ?, 0, 1e9, 1e9, ?) RETURNING id",
            (A, f"arn:aws:sqs:us-east-1:{A}:legacy", json.dumps(attributes)))
        old.execute("INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attributes, md5_attributes, "
                    "sent, visible_at, expires_at, sender_id) VALUES (?, ?, 'written by the old code', ?, ?, ?, "
                    "1e9, 1e9, 1e12, ?)",
                    (queue_id, str(uuid.uuid4()), "d41d8cd98f00b204e9800998ecf8427e",
                     json.dumps({"Kind": {"DataType": "String", "StringValue": "legacy"}}),
                     "0123456789abcdef0123456789abcdef", A))
    old.close()
    with CloudletServer(str(tmp_path)) as server:
        sqs = server.client("sqs")
        url = sqs.get_queue_url(QueueName="legacy")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="written by the new code")
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
        assert sorted((m["Body"], m.get("MessageAttributes", {}).get("Kind", {}).get("StringValue")) for m in got) \
            == [("written by the new code", None), ("written by the old code", "legacy")]
        stored = rows(server, "SELECT body, data_key FROM sqs_messages ORDER BY id")
        assert stored == [("written by the old code", None), ("", 0)]
