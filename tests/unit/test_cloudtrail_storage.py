"""CloudTrail's record table: records written before they were packed
(one column per field) read back the same after the migration."""

from __future__ import annotations

import orjson

from cloudlet.protocol.model import ModelRegistry
from cloudlet.services.cloudtrail import events as ev
from cloudlet.services.cloudtrail.provider import MIGRATIONS
from cloudlet.storage import Storage

OLD_INSERT = ("INSERT INTO cloudtrail_events (event_id, time, account, region, service, name, read_only, category, "
              "username, access_key, identity, source_ip, user_agent, request_id, params, output, error_code, "
              "error_message, resources, shared_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


def test_unpacked_records_are_packed_by_the_migration(tmp_path):
    storage = Storage(str(tmp_path / "db.sqlite"))
    storage.migrate("cloudtrail", MIGRATIONS[:-1])
    identity = orjson.dumps({"t": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice", "id": "AIDAALICE",
                             "acct": "123456789012", "key": "AKIAALICE", "name": "alice"})
    storage.execute(OLD_INSERT, (
        "11111111-2222-4333-8444-555555555555", 1700000000.0, "123456789012", "us-east-1", "sqs", "CreateQueue", 0,
        0, "alice", "AKIAALICE", identity, "10.0.0.1", "aws-cli/2", "req-1", orjson.dumps({"QueueName": "q"}),
        orjson.dumps({"QueueUrl": "http://sqs.us-east-1.localhost:4566/123456789012/q"}), None, None, None, None))
    storage.execute(OLD_INSERT, (
        "66666666-7777-4888-9999-000000000000", 1700000001.0, "123456789012", "us-east-1", "sqs", "DeleteQueue", 0,
        0, "alice", "AKIAALICE", identity, "10.0.0.1", "aws-cli/2", "req-2", orjson.dumps({"QueueUrl": "nope"}),
        None, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.", None, None))
    storage.close()
    storage = Storage(str(tmp_path / "db.sqlite"))  # a newer cloudlet starting on the same data
    storage.migrate("cloudtrail", MIGRATIONS)

    # every field by name, in the view
    assert storage.all("SELECT event_id, username, access_key, user_agent, error_code FROM cloudtrail_event_fields "
                       "ORDER BY seq") == [
        ("11111111-2222-4333-8444-555555555555", "alice", "AKIAALICE", "aws-cli/2", None),
        ("66666666-7777-4888-9999-000000000000", "alice", "AKIAALICE", "aws-cli/2",
         "AWS.SimpleQueueService.NonExistentQueue")]
    assert storage.scalar("SELECT json_extract(CAST(identity AS TEXT), '$.arn') FROM cloudtrail_event_fields "
                          "WHERE seq = 1") == "arn:aws:iam::123456789012:user/alice"
    rows = [ev.unpack(r) for r in storage.all(f"SELECT {ev.COLUMNS} FROM cloudtrail_events ORDER BY seq")]
    assert rows[0][:11] == (1, "11111111-2222-4333-8444-555555555555", 1700000000.0, "123456789012", "us-east-1",
                            "sqs", "CreateQueue", 0, 0, "alice", "AKIAALICE")
    models = ModelRegistry()
    created = ev.shape(rows[0], models)
    assert created["userIdentity"] == {
        "type": "IAMUser", "principalId": "AIDAALICE", "arn": "arn:aws:iam::123456789012:user/alice",
        "accountId": "123456789012", "accessKeyId": "AKIAALICE", "userName": "alice"}
    assert created["requestParameters"] == {"queueName": "q"}
    assert created["responseElements"] == {"queueUrl": "http://sqs.us-east-1.localhost:4566/123456789012/q"}
    assert (created["sourceIPAddress"], created["userAgent"], created["requestID"]) == ("10.0.0.1", "aws-cli/2",
                                                                                         "req-1")
    failed = ev.shape(rows[1], models)
    assert (failed["errorCode"], failed["errorMessage"]) == ("AWS.SimpleQueueService.NonExistentQueue",
                                                             "The specified queue does not exist.")
    assert failed["responseElements"] is None
    storage.close()
