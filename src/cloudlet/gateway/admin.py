"""The admin API under /_cloudlet/ (never an AWS path):

GET  /_cloudlet/health            version, services, storage, clock
POST /_cloudlet/reset[?service=]  forget all state, or one service's
GET  /_cloudlet/clock             the clock
POST /_cloudlet/sts/jwks          {"issuer": url, "jwks": {...}}: an identity provider's keys
POST /_cloudlet/clock             {"advance": s} | {"set": iso-or-epoch} | {"real": true}
                                  (answers once the jobs and deliveries it made due have run)
GET  /_cloudlet/sns/messages[?account=&protocol=&endpoint=]  SNS messages captured (email, sms, push)
DELETE /_cloudlet/sns/messages[?...]                         forget them
POST /_cloudlet/sns/opt-out       {"phoneNumber": "+1...", "account": "..."}: the number replied STOP
GET  /_cloudlet/sns/SimpleNotificationService-cloudlet.pem  the certificate SNS signs with
POST /_cloudlet/cloudtrail/flush  every trail delivers the log files it has pending now
GET  /_cloudlet/ses/messages[?account=&to=]  mail SES sent (DELETE: forget it)
GET  /_cloudlet/ses/verify?token=  the link of SES's verification message
POST /_cloudlet/ses/verify        {"identity": ..., "account": ..., "region": ...}: verified
GET  /_cloudlet/lambda/code/<sha>  a function's zip (GetFunction's Code.Location)
"""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson

from cloudlet import __version__
from cloudlet.protocol.common import iso8601, parse_timestamp, ParseError
from cloudlet.protocol.http import HttpRequest, HttpResponse
from cloudlet.services import SERVICES


def _json(status: int, doc) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], orjson.dumps(doc))


def _error(status: int, message: str) -> HttpResponse:
    return _json(status, {"error": message})


class Admin:
    def __init__(self, cloud):
        self.cloud = cloud

    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path.rstrip("/")
        method = request.method
        if path == "/_cloudlet/health" and method in ("GET", "HEAD"):
            return _json(200, self.health())
        if path == "/_cloudlet/reset" and method == "POST":
            service = parse_qs(request.query_string).get("service", [None])[0]
            if service is not None and service not in SERVICES:
                return _error(404, f"unknown service: {service}")
            self.cloud.reset(service)
            return _json(200, {"reset": service or "all"})
        if path == "/_cloudlet/sts/jwks" and method == "POST":
            return self.register_jwks(request)
        if path == "/_cloudlet/cloudtrail/flush" and method == "POST":
            return _json(200, await self.cloud.service("cloudtrail").flush())
        if path.startswith("/_cloudlet/sns/"):
            return self.sns(request, path, method)
        if path.startswith("/_cloudlet/ses/"):
            return self.ses(request, path, method)
        if path.startswith("/_cloudlet/lambda/code/") and method in ("GET", "HEAD"):
            return self.lambda_code(path.rsplit("/", 1)[-1])
        if path == "/_cloudlet/clock":
            if method == "GET":
                return _json(200, self.clock_state())
            if method == "POST":
                return await self.move_clock(request)
        return _error(404, f"no admin endpoint {method} {request.path}")

    def health(self) -> dict:
        cloud = self.cloud
        running = cloud.running_services()
        return {
            "status": "running",
            "version": __version__,
            "services": {name: ("running" if name in running else "available") for name in sorted(SERVICES)},
            "storage": {"engine": cloud.storage.engine, "path": cloud.storage.path,
                        "ephemeral": cloud.settings.ephemeral},
            "clock": self.clock_state(),
        }

    def sns(self, request: HttpRequest, path: str, method: str) -> HttpResponse:
        from cloudlet.services.sns.envelope import CERT_PATH

        sns = self.cloud.service("sns")
        if path == CERT_PATH and method in ("GET", "HEAD"):
            # The certificate SNS messages are signed with (their SigningCertURL).
            return HttpResponse(200, [("Content-Type", "application/x-x509-ca-cert")], sns.signer.certificate_pem())
        query = {k: v[0] for k, v in parse_qs(request.query_string).items()}
        if path == "/_cloudlet/sns/messages":
            if method == "GET":
                return _json(200, {"messages": sns.outbox(account=query.get("account"),
                                                          protocol=query.get("protocol"),
                                                          endpoint=query.get("endpoint"))})
            if method == "DELETE":
                return _json(200, {"deleted": sns.clear_outbox(account=query.get("account"),
                                                               protocol=query.get("protocol"),
                                                               endpoint=query.get("endpoint"))})
        if path == "/_cloudlet/sns/opt-out" and method == "POST":
            # A phone number replying STOP: there is no API for it on AWS.
            try:
                doc = orjson.loads(request.body or b"{}")
            except orjson.JSONDecodeError:
                return _error(400, "the body must be JSON")
            if not isinstance(doc, dict) or not isinstance(doc.get("phoneNumber"), str):
                return _error(400, 'expected {"phoneNumber": "+1...", "account": "123456789012"}')
            account = doc.get("account") or self.cloud.settings.account_id
            try:
                number = sns.opt_out(account, doc["phoneNumber"])
            except ValueError as exc:
                return _error(400, str(exc))
            return _json(200, {"optedOut": number, "account": account})
        return _error(404, f"no admin endpoint {method} {request.path}")

    def ses(self, request: HttpRequest, path: str, method: str) -> HttpResponse:
        ses = self.cloud.service("ses")
        query = {k: v[0] for k, v in parse_qs(request.query_string).items()}
        if path == "/_cloudlet/ses/messages":
            if method == "GET":
                return _json(200, {"messages": ses.outbox(account=query.get("account"), to=query.get("to"))})
            if method == "DELETE":
                return _json(200, {"deleted": ses.clear_outbox(account=query.get("account"))})
        if path == "/_cloudlet/ses/verify":
            if method == "GET" and query.get("token"):
                # The link of the verification message SES sends.
                name = ses.mark_verified("", "", token=query["token"])
                if name is None:
                    return _error(404, "unknown or used verification link")
                return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")],
                                    f"<html><body><h1>Congratulations!</h1><p>You have successfully verified "
                                    f"{name}.</p></body></html>".encode())
            if method == "POST":
                try:
                    doc = orjson.loads(request.body or b"{}")
                except orjson.JSONDecodeError:
                    return _error(400, "the body must be JSON")
                if not isinstance(doc, dict) or not isinstance(doc.get("identity"), str):
                    return _error(400, 'expected {"identity": "a@example.com", "account": "...", "region": "..."}')
                account = doc.get("account") or self.cloud.settings.account_id
                region = doc.get("region") or self.cloud.settings.region
                if ses.mark_verified(account, region, doc["identity"]) is None:
                    return _error(404, f"no identity {doc['identity']} in {account} {region}")
                return _json(200, {"verified": doc["identity"], "account": account, "region": region})
        return _error(404, f"no admin endpoint {method} {request.path}")

    def lambda_code(self, safe_sha: str) -> HttpResponse:
        """A function's zip: GetFunction's Code.Location (AWS's is a
        presigned S3 URL)."""
        import base64

        try:
            sha = base64.b64encode(base64.urlsafe_b64decode(safe_sha + "=" * (-len(safe_sha) % 4))).decode()
        except ValueError:
            return _error(404, "no such code")
        data = self.cloud.service("lambda").storage.scalar("SELECT data FROM lambda_code WHERE sha = ?", (sha,))
        if data is None:
            return _error(404, "no such code")
        return HttpResponse(200, [("Content-Type", "application/zip")], bytes(data))

    def register_jwks(self, request: HttpRequest) -> HttpResponse:
        """Stand in for an OpenID Connect provider's jwks_uri: AssumeRoleWithWebIdentity
        checks tokens from `issuer` against these keys."""
        try:
            doc = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError:
            return _error(400, "the body must be JSON")
        if not isinstance(doc, dict) or not isinstance(doc.get("issuer"), str) or not isinstance(doc.get("jwks"), dict):
            return _error(400, 'expected {"issuer": "https://...", "jwks": {"keys": [...]}}')
        self.cloud.service("sts").register_jwks(doc["issuer"], doc["jwks"])
        return _json(200, {"issuer": doc["issuer"], "keys": len(doc["jwks"].get("keys", []))})

    def clock_state(self) -> dict:
        clock = self.cloud.clock
        now = clock.now()
        return {"now": iso8601(now), "epoch": now, "virtual": clock.virtual}

    async def move_clock(self, request: HttpRequest) -> HttpResponse:
        try:
            doc = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError:
            return _error(400, "the body must be JSON")
        if not isinstance(doc, dict):
            return _error(400, "the body must be a JSON object")
        cloud = self.cloud
        try:
            if "advance" in doc:
                seconds = float(doc["advance"])
                if seconds < 0:
                    return _error(400, "the clock only moves forward")
                cloud.set_clock(cloud.clock.now() + seconds)
            elif "set" in doc:
                cloud.set_clock(parse_timestamp(doc["set"]))
            elif doc.get("real"):
                cloud.set_clock(None)
            else:
                return _error(400, 'expected {"advance": seconds}, {"set": time} or {"real": true}')
        except (TypeError, ValueError, ParseError) as exc:
            return _error(400, f"bad clock value: {exc}")
        # What background work finishes while settling can make more work
        # due at the new time (a retry counted from an attempt that began
        # before the move): run that too, a few rounds at most.
        ran = 0
        for _ in range(10):
            ran_now = await cloud.scheduler.run_due()
            await cloud.settle()
            ran += ran_now
            if not ran_now and not cloud.scheduler.due():
                break
        state = self.clock_state()
        state["jobs_run"] = ran
        return _json(200, state)
