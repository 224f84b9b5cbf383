"""What IAM costs per request.

1. In-process: microseconds to verify a SigV4 signature and to evaluate a
   user's policies (the two steps an issued key adds to a request).
2. Gateway throughput of one signed call by an IAM user (sts:GetAccessKeyInfo,
   allowed by an inline policy) with `--iam-mode enforce` and `--iam-mode off`,
   on the same data, in the same run. Target: enforce >= 80% of off.

    .venv/bin/python bench/auth.py [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from peers import free_port, wait_ready  # noqa: E402

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sts:GetAccessKeyInfo", "iam:Get*"], "Resource": "*"},
    {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"}]})


def start(data_dir: str, port: int, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cloudlet", "serve", "--port", str(port), "--data-dir", data_dir,
                             "--log-level", "warning", "--iam-mode", mode],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def signed_request(port: int, key: dict) -> bytes:
    body = b"Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=AKIAIOSFODNN7EXAMPLE"
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "sts", "us-east-1").add_auth(req)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def load(port: int, request: bytes, concurrency: int, seconds: float) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "loadgen.py"), str(port), str(concurrency), str(seconds)],
                          input=request, capture_output=True, check=True)
    return json.loads(proc.stdout)


def micro(key: dict, n: int = 5000) -> dict:
    """In-process costs, measured on the same code paths the gateway uses."""
    from cloudlet.gateway.auth import parse_credential
    from cloudlet.gateway.sigv4 import verify
    from cloudlet.iam import AuthzRequest, PolicySet, PrincipalInfo, evaluate, parse_policy
    from cloudlet.protocol.http import HttpRequest

    raw = signed_request(4566, key)
    head, body = raw.split(b"\r\n\r\n", 1)
    headers = [tuple(h.split(": ", 1)) for h in head.decode().split("\r\n")[1:]]
    request = HttpRequest("POST", "/", "", headers, body)
    cred = parse_credential(request)
    now = time.time()
    t0 = time.perf_counter()
    for _ in range(n):
        verify(request, cred, key["SecretAccessKey"], wall_now=now, clock_now=now)
    verify_us = (time.perf_counter() - t0) / n * 1e6
    policies = [parse_policy(POLICY), parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}))]
    principal = PrincipalInfo(arn="arn:aws:iam::000000000000:user/bench", account="000000000000", type="IAMUser",
                              user_id="AIDAEXAMPLE", username="bench")
    req = AuthzRequest(principal=principal, action="sts:GetAccessKeyInfo", resource="*",
                       context={"aws:SourceIp": "127.0.0.1"})
    t0 = time.perf_counter()
    for _ in range(n):
        evaluate(req, PolicySet(identity=policies), now)
    evaluate_us = (time.perf_counter() - t0) / n * 1e6
    return {"verify_us": verify_us, "evaluate_us": evaluate_us}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        proc = start(data, port, "enforce")
        try:
            time.sleep(0.3)
            iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")
            for _ in range(100):
                try:
                    iam.create_user(UserName="bench")
                    break
                except Exception:
                    time.sleep(0.05)
            iam.put_user_policy(UserName="bench", PolicyName="p", PolicyDocument=POLICY)
            key = iam.create_access_key(UserName="bench")["AccessKey"]
        finally:
            proc.kill()
            proc.wait()
        costs = micro(key)
        print(f"in-process: SigV4 verification {costs['verify_us']:.1f} us, policy evaluation "
              f"{costs['evaluate_us']:.1f} us per request")
        results = {}
        for mode in ("off", "enforce"):
            proc = start(data, port, mode)
            try:
                request = signed_request(port, key)
                wait_ready(port, request)
                results[mode] = load(port, request, args.concurrency, args.seconds)
            finally:
                proc.kill()
                proc.wait()
            r = results[mode]
            print(f"--iam-mode {mode:8s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                  f"errors {r['errors']}")
        print(f"enforce / off = {results['enforce']['rps'] / results['off']['rps'] * 100:.0f}% (target >= 80%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
