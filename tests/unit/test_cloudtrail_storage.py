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
    packing = next(i for i, m in enumerate(MIGRATIONS) if "cloudtrail_events_unpacked" in m)
    storage.migrate("cloudtrail", MIGRATIONS[:packing])  # a data dir from before the packing
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


def test_event_ids_are_stored_bare_and_read_dashed(tmp_path):
    """The recorder stores an event id as 32 hex digits; the view and the
    shaped record show the UUID form (and ids stored dashed stay as they
    are)."""
    storage = Storage(str(tmp_path / "db.sqlite"))
    storage.migrate("cloudtrail", MIGRATIONS)
    for bare, shared in (("0123456789ab4def8123456789abcdef", None),
                         ("11111111-2222-4333-8444-555555555555", "fedcba9876544321a0123456789abcde")):
        rec = orjson.dumps([bare, "root", "test", {"t": "Root", "arn": "arn:aws:iam::123456789012:root",
                                                   "id": "123456789012", "acct": "123456789012"},
                            "127.0.0.1", "ua", "req", {}, None, None, None, shared])
        storage.execute("INSERT INTO cloudtrail_events (time, account, region, service, name, read_only, category, "
                        "error_code, rec) VALUES (1700000000, '123456789012', 'us-east-1', 'sts', "
                        "'GetCallerIdentity', 1, 0, NULL, ?)", (rec,))
    assert storage.all("SELECT event_id, shared_id FROM cloudtrail_event_fields ORDER BY seq") == [
        ("01234567-89ab-4def-8123-456789abcdef", None),
        ("11111111-2222-4333-8444-555555555555", "fedcba98-7654-4321-a012-3456789abcde")]
    models = ModelRegistry()
    shaped = [ev.shape(ev.unpack(r), models) for r in storage.all(f"SELECT {ev.COLUMNS} FROM cloudtrail_events "
                                                                   "ORDER BY seq")]
    assert [(r["eventID"], r.get("sharedEventID")) for r in shaped] == [
        ("01234567-89ab-4def-8123-456789abcdef", None),
        ("11111111-2222-4333-8444-555555555555", "fedcba98-7654-4321-a012-3456789abcde")]
    storage.close()
