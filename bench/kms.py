"""KMS Encrypt and Decrypt for cloudlet, ministack and moto in one run.

  encrypt  Encrypt (a 256-byte plaintext, an encryption context of two
           pairs) under a symmetric key, at 1, 16 and 64 keep-alive
           connections: operations/s and p50/p99 ms.
  decrypt  Decrypt of a ciphertext made by that server's Encrypt (no
           KeyId: the blob names its key), same levels.

Only HTTP 200 answers count (set-up checks each server's Decrypt returns
the plaintext), so a server that answers fast with errors scores nothing.
Requests are raw HTTP/1.1 signed with SigV4 (KMS JSON 1.1), as the SDKs
send them, from bench/loadgen.py in its own process, 1 s of warm-up then
--seconds measured; keys are set up with boto3.

    .venv/bin/python bench/kms.py [--seconds 5] [--concurrency 1,16,64]
        [--servers cloudlet,ministack,moto]
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from peers import server, sts_request, wait_ready  # noqa: E402
from report import arguments, ratio_table, run_all  # noqa: E402
from sns import signed  # noqa: E402

PLAINTEXT = bytes(range(256))
CONTEXT = {"tenant": "bench", "purpose": "throughput"}
JSON11 = "application/x-amz-json-1.1"


def request(port: int, op: str, key_id: str, blob: bytes) -> bytes:
    """One signed request (SigV4 allows 15 minutes: one signature serves a run)."""
    if op == "Encrypt":
        body = {"KeyId": key_id, "Plaintext": base64.b64encode(PLAINTEXT).decode(), "EncryptionContext": CONTEXT}
    else:
        body = {"CiphertextBlob": base64.b64encode(blob).decode(), "EncryptionContext": CONTEXT}
    return signed(port, "kms", json.dumps(body).encode(), {"Content-Type": JSON11,
                                                           "X-Amz-Target": f"TrentService.{op}"})


def setup(port: int) -> tuple[str, bytes]:
    kms = boto3.client("kms", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=Config(retries={"max_attempts": 1}))
    key_id = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT, EncryptionContext=CONTEXT)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"] == PLAINTEXT
    return key_id, blob


def load(port: int, req: bytes, concurrency: int, seconds: float) -> dict:
    """Closed-loop load from bench/loadgen.py, in its own process (uvloop)."""
    proc = subprocess.run([sys.executable, str(HERE / "loadgen.py"), str(port), str(concurrency), str(seconds)],
                          input=req, capture_output=True, check=True)
    out = json.loads(proc.stdout)
    return {"rps": out["rps"], "p50": out["p50_ms"], "p99": out["p99_ms"], "errors": out["errors"]}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def run_server(name: str, args) -> dict:
    srv = server(name).start()
    try:
        wait_ready(srv.port, sts_request(srv.port))
        key_id, blob = setup(srv.port)
        result: dict = {}
        for op in ("Encrypt", "Decrypt"):
            result[op] = {}
            for c in args.levels:
                r = load(srv.port, request(srv.port, op, key_id, blob), c, args.seconds)
                result[op][c] = r
                print(f"  {name:10s} {op:8s} c={c:<3d} {r['rps']:8,.0f} ops/s  p50 {r['p50']:6.2f} ms  "
                      f"p99 {r['p99']:7.2f} ms  errors {r['errors']}", flush=True)
        return result
    finally:
        srv.stop()


def main() -> int:
    args = arguments(__doc__)
    names = args.servers.split(",")
    results = run_all(names, run_server, args)
    lows = [ratio_table(op, results, names, op, args.levels) for op in ("Encrypt", "Decrypt")]
    worst = min((w for w in lows if w is not None), default=None)
    if worst is not None:
        print(f"\nTarget: Encrypt and Decrypt >= 3x ministack at every level: {'met' if worst >= 3 else 'NOT met'} "
              f"(lowest {worst:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
