"""The AWS CLI's S3 commands against cloudlet: mb, cp (single and
multipart), sync, ls, presign, rb, s3api, and restoring a GLACIER object."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.request

from tests.services.test_iam_simulation import aws


def cli(cloudlet, *args) -> str:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL=cloudlet.endpoint, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    proc = subprocess.run([sys.executable, "-m", "awscli", *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_mb_cp_ls_sync_rb(cloudlet, tmp_path):
    assert cli(cloudlet, "s3", "mb", "s3://cli-bucket").strip() == "make_bucket: cli-bucket"
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from the CLI\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 3))  # over the CLI's 8 MiB multipart threshold
    cli(cloudlet, "s3", "cp", str(small), "s3://cli-bucket/docs/small.txt")
    cli(cloudlet, "s3", "cp", str(big), "s3://cli-bucket/big.bin")
    s3 = cloudlet.client("s3")
    head = s3.head_object(Bucket="cli-bucket", Key="big.bin")
    assert head["ContentLength"] == big.stat().st_size
    assert head["ETag"].endswith('-2"')  # two parts of 8 MiB and the rest
    listing = cli(cloudlet, "s3", "ls", "s3://cli-bucket/", "--recursive").splitlines()
    assert sorted(line.split()[-1] for line in listing) == ["big.bin", "docs/small.txt"]
    down = tmp_path / "down"
    cli(cloudlet, "s3", "cp", "s3://cli-bucket/big.bin", str(down))
    assert hashlib.sha256(down.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()

    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "one.txt").write_text("1")
    (tree / "two.txt").write_text("2")
    cli(cloudlet, "s3", "sync", str(tree), "s3://cli-bucket/tree")
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="cli-bucket", Prefix="tree/")["Contents"]) == \
        ["tree/a/one.txt", "tree/two.txt"]
    back = tmp_path / "back"
    cli(cloudlet, "s3", "sync", "s3://cli-bucket/tree", str(back))
    assert (back / "a" / "one.txt").read_text() == "1" and (back / "two.txt").read_text() == "2"
    # A second sync copies nothing.
    assert cli(cloudlet, "s3", "sync", str(tree), "s3://cli-bucket/tree").strip() == ""

    assert cli(cloudlet, "s3", "rb", "s3://cli-bucket", "--force").strip().endswith("remove_bucket: cli-bucket")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []


def test_presigned_url_from_the_cli(cloudlet):
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="report.csv", Body=b"a,b\n1,2\n")
    url = cli(cloudlet, "s3", "presign", "s3://shared/report.csv", "--expires-in", "300").strip()
    with urllib.request.urlopen(url) as resp:
        assert (resp.status, resp.read()) == (200, b"a,b\n1,2\n")


def test_s3api_commands(cloudlet, tmp_path):
    aws(cloudlet, "s3api", "create-bucket", "--bucket", "api-bucket")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    put = aws(cloudlet, "s3api", "put-object", "--bucket", "api-bucket", "--key", "k", "--body", str(empty))
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    listed = aws(cloudlet, "s3api", "list-objects-v2", "--bucket", "api-bucket")
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [("k", 0)]


def test_restore_a_glacier_object_from_the_cli(cloudlet, tmp_path):
    cloudlet.clock.set("2030-03-01T12:00:00Z")
    frozen = tmp_path / "frozen.txt"
    frozen.write_bytes(b"kept for years\n")
    cli(cloudlet, "s3", "mb", "s3://cold-cli")
    cli(cloudlet, "s3", "cp", str(frozen), "s3://cold-cli/frozen.txt", "--storage-class", "GLACIER")
    assert aws(cloudlet, "s3api", "head-object", "--bucket", "cold-cli", "--key", "frozen.txt")["StorageClass"] == \
        "GLACIER"
    cli(cloudlet, "s3api", "restore-object", "--bucket", "cold-cli", "--key", "frozen.txt",
        "--restore-request", "Days=1,GlacierJobParameters={Tier=Expedited}")
    head = aws(cloudlet, "s3api", "head-object", "--bucket", "cold-cli", "--key", "frozen.txt")
    assert head["Restore"] == 'ongoing-request="true"'
    cloudlet.clock.advance(300)
    head = aws(cloudlet, "s3api", "head-object", "--bucket", "cold-cli", "--key", "frozen.txt")
    assert head["Restore"] == 'ongoing-request="false", expiry-date="Sun, 03 Mar 2030 00:00:00 GMT"'
    back = tmp_path / "back.txt"
    cli(cloudlet, "s3", "cp", "s3://cold-cli/frozen.txt", str(back), "--force-glacier-transfer")
    assert back.read_bytes() == b"kept for years\n"
