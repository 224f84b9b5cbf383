"""API destination invocations: the HTTP requests EventBridge makes for a
rule whose target is an API destination. Mixed into EventsService.

An invocation is a row of events_http_deliveries, stored before PutEvents
answers, so a restart loses none. A job on the clock takes the due rows
and makes each request (5 seconds at most, as AWS allows):

- the URL is the destination's endpoint with each `*` replaced by the
  target's HttpParameters.PathParameterValues, in order, and the query
  string of the connection's and the target's QueryStringParameters;
- headers: Content-Type application/json; charset=utf-8, User-Agent
  Amazon/EventBridge/ApiDestinations, the connection's and the target's
  HeaderParameters, and the authorization: Basic, the API key header, or
  `Bearer <token>` from the OAuth authorization endpoint (client
  credentials, fetched when needed and again after a 401);
- the body is the target's input (the event, or what Input / InputPath /
  InputTransformer make of it), with the connection's BodyParameters
  merged in when it is a JSON object; none for GET and HEAD.

2xx is delivered. 429, 5xx and no answer are retried (1, 2, 4 ... 300
seconds later, on the clock) until the target's RetryPolicy
(MaximumRetryAttempts, 185 by default; MaximumEventAgeInSeconds, 24 hours)
runs out; other answers are not. What is not delivered goes to the
target's dead-letter queue. The rate limit is not enforced.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from urllib.parse import urlencode

import orjson

from cloudlet import httpclient
from cloudlet.errors import AwsError
from cloudlet.services.events.connections import http_parameters

log = logging.getLogger("cloudlet.events")

TIMEOUT = 5.0
LEASE_SECONDS = 60.0
DEFAULT_RETRIES = 185
DEFAULT_MAX_AGE = 86400
_COLUMNS = "id, account, region, bus, rule, rule_arn, target, body, event, attempt, created"


def backoff(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), 300))


class ApiHttpOps:
    """Mixed into EventsService."""

    def _inflight(self) -> set:
        return self.__dict__.setdefault("_http_inflight", set())

    def enqueue_http(self, account: str, region: str, bus: str, rule: str, rule_arn: str, target: dict, body: str,
                     event_text: str) -> None:
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO events_http_deliveries (account, region, bus, rule, rule_arn, target, body, event, "
                "created, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, region, bus, rule, rule_arn, orjson.dumps(target).decode(), body, event_text, now, now))
        self.kick_http(now)

    def kick_http(self, when: float) -> None:
        self.cloud.scheduler.at("events-http", when, self.run_http)

    def recover_http(self) -> None:
        """At start: what a stopped process had in flight is due now."""
        with self.storage.tx():
            self.storage.execute("UPDATE events_http_deliveries SET leased = 0, next_attempt = ? WHERE leased = 1",
                                 (self.clock.now(),))
        self._next_http()

    def _next_http(self) -> None:
        when = self.storage.scalar("SELECT MIN(next_attempt) FROM events_http_deliveries WHERE leased = 0")
        if when is not None:
            self.kick_http(when)

    async def run_http(self, now: float) -> None:
        rows = self.storage.all(f"SELECT {_COLUMNS} FROM events_http_deliveries WHERE next_attempt <= ? AND "
                                "leased = 0 ORDER BY id LIMIT 500", (now,))
        with self.storage.tx():
            for row in rows:
                self.storage.execute("UPDATE events_http_deliveries SET leased = 1, next_attempt = ? WHERE id = ?",
                                     (now + LEASE_SECONDS, row[0]))
        await self.storage.flush()
        for row in rows:
            task = asyncio.get_running_loop().create_task(self._deliver_http(row))
            self._inflight().add(task)
            task.add_done_callback(self._inflight().discard)
        if len(rows) == 500:
            self.kick_http(now)
        else:
            self._next_http()

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait (real time, bounded) for requests under way and for events
        other services sent: a clock move answers once they are done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = set(self._inflight()) | set(self.__dict__.get("_source_tasks", ()))
            left = deadline - loop.time()
            if not pending or left <= 0:
                return
            await asyncio.wait(pending, timeout=left)

    # -- one request ------------------------------------------------------------------

    async def _deliver_http(self, row) -> None:
        delivery_id, account, region, bus, rule, rule_arn, target, body, event_text, attempt, created = row
        target = orjson.loads(target)
        attempt += 1
        # Delays count from when the attempt starts: a clock moved while
        # the endpoint answers does not stretch them.
        started = self.clock.now()
        try:
            status, detail = await self._request(target, body)
        except AwsError as err:  # the destination or its connection is gone or unusable
            self._finish_http(delivery_id)
            await self._http_failed(account, region, bus, rule, rule_arn, target, event_text, err)
            return
        if status is not None and 200 <= status < 300:
            self._finish_http(delivery_id)
            return
        policy = target.get("RetryPolicy") or {}
        retries = policy.get("MaximumRetryAttempts", DEFAULT_RETRIES)
        max_age = policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)
        retryable = status is None or status == 429 or status >= 500
        next_time = started + backoff(attempt)
        if retryable and attempt <= retries and next_time - created <= max_age:
            log.info("API destination %s: %s; attempt %d at %s", target["Arn"], detail, attempt + 1, next_time)
            with self.storage.tx():
                self.storage.execute("UPDATE events_http_deliveries SET attempt = ?, next_attempt = ?, leased = 0 "
                                     "WHERE id = ?", (attempt, next_time, delivery_id))
            self._next_http()
            return
        self._finish_http(delivery_id)
        code = "SDK_CLIENT_ERROR" if not retryable else "RETRIES_EXHAUSTED"
        await self._http_failed(account, region, bus, rule, rule_arn, target, event_text,
                                AwsError(code, detail), attempts=attempt - 1,
                                exhausted="MaximumRetryAttempts" if retryable and attempt > retries
                                else "MaximumEventAgeInSeconds" if retryable else "None")

    def _finish_http(self, delivery_id: int) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM events_http_deliveries WHERE id = ?", (delivery_id,))

    async def _http_failed(self, account, region, bus, rule, rule_arn, target, event_text, err, attempts=0,
                           exhausted="None") -> None:
        from cloudlet.services.events.routing import _Rule

        metric_rule = _Rule(account, region, bus, rule, None, None, None, rule_arn)
        self._metric(metric_rule, "FailedInvocations")
        await self._dead_letter(metric_rule, target, event_text, err, attempts=attempts, exhausted=exhausted)

    async def _request(self, target: dict, body: str) -> tuple[int | None, str]:
        arn = target["Arn"]
        parts = arn.split(":", 5)
        region, owner, name = parts[3], parts[4], parts[5].split("/")[1]
        api = self._api_row(owner, region, name)
        if api is None:
            raise AwsError("ResourceNotFoundException", f"API destination {arn} does not exist.")
        _, _, connection_arn_, endpoint, method, _, _, _, _, _ = api
        cparts = connection_arn_.split(":", 5)
        connection_name = cparts[5].split("/")[1]
        conn = self.storage.one("SELECT uuid, auth_type, public, sealed, state FROM events_connections WHERE "
                                "account = ? AND region = ? AND name = ?", (cparts[4], cparts[3], connection_name))
        if conn is None:
            raise AwsError("ResourceNotFoundException", f"Connection {connection_arn_} does not exist.")
        uid, auth_type, public, sealed, state = conn
        if state == "DEAUTHORIZED":
            raise AwsError("NotAuthorized", f"Connection {connection_arn_} is deauthorized.")
        public = orjson.loads(public)
        secret = self.connection_secrets(cparts[4], cparts[3], connection_name, uid, sealed)
        invocation = http_parameters(public.get("InvocationHttpParameters"), secret.get("invocation_http"))
        target_http = target.get("HttpParameters") or {}
        url = endpoint
        for value in target_http.get("PathParameterValues") or ():
            url = url.replace("*", value, 1)
        query = dict(invocation.get("QueryStringParameters") or {})
        query.update(target_http.get("QueryStringParameters") or {})
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Amazon/EventBridge/ApiDestinations",
                   "Range": "bytes=0-1048575"}
        headers.update(invocation.get("HeaderParameters") or {})
        headers.update(target_http.get("HeaderParameters") or {})
        payload = body
        extra = invocation.get("BodyParameters")
        if extra and method not in ("GET", "HEAD"):
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                doc.update(extra)
                payload = orjson.dumps(doc).decode()
        data = b"" if method in ("GET", "HEAD") else payload.encode()
        for _ in range(2):
            if auth_type == "BASIC":
                user = public["BasicAuthParameters"]["Username"]
                token = base64.b64encode(f"{user}:{secret.get('password', '')}".encode()).decode()
                headers["Authorization"] = f"Basic {token}"
            elif auth_type == "API_KEY":
                headers[public["ApiKeyAuthParameters"]["ApiKeyName"]] = secret.get("api_key", "")
            else:
                token = await self._oauth_token(cparts[4], cparts[3], connection_name, public, secret)
                if token is None:
                    return None, "the OAuth authorization endpoint gave no token"
                headers["Authorization"] = f"Bearer {token}"
            try:
                result = await httpclient.request(method, url, data, headers, timeout=TIMEOUT)
            except httpclient.HttpError as exc:
                return None, str(exc)
            if result.status == 401 and auth_type == "OAUTH_CLIENT_CREDENTIALS":
                self._drop_token(cparts[4], cparts[3], connection_name)
                continue  # a token the endpoint no longer takes: fetch another, once
            return result.status, f"HTTP {result.status}"
        return result.status, f"HTTP {result.status}"

    # -- OAuth client credentials ------------------------------------------------------------

    def _drop_token(self, account: str, region: str, name: str) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE events_connections SET token = NULL, token_expires = NULL WHERE account = ? "
                                 "AND region = ? AND name = ?", (account, region, name))

    async def _oauth_token(self, account: str, region: str, name: str, public: dict, secret: dict) -> str | None:
        row = self.storage.one("SELECT uuid, token, token_expires FROM events_connections WHERE account = ? AND "
                               "region = ? AND name = ?", (account, region, name))
        from cloudlet.services.events.connections import connection_arn

        aad = (connection_arn(region, account, name, row[0]) + "#token").encode()
        if row[1] is not None and (row[2] is None or row[2] > self.clock.now() + 30):
            return self.connection_sealer.open(bytes(row[1]), aad).decode()
        oauth = public["OAuthParameters"]
        params = http_parameters(oauth.get("OAuthHttpParameters"), secret.get("oauth_http"))
        client = f"{oauth['ClientParameters']['ClientID']}:{secret.get('client_secret', '')}"
        headers = {"Authorization": "Basic " + base64.b64encode(client.encode()).decode(),
                   "Content-Type": "application/x-www-form-urlencoded"}
        headers.update(params.get("HeaderParameters") or {})
        form = {"grant_type": "client_credentials"}
        form.update(params.get("BodyParameters") or {})
        url = oauth["AuthorizationEndpoint"]
        query = dict(params.get("QueryStringParameters") or {})
        method = oauth.get("HttpMethod", "POST")
        if method == "GET":
            query.update(form)
            data = b""
        else:
            data = urlencode(form).encode()
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        try:
            result = await httpclient.request(method, url, data, headers, timeout=TIMEOUT)
            doc = orjson.loads(result.body) if 200 <= result.status < 300 else {}
        except (httpclient.HttpError, orjson.JSONDecodeError):
            doc = {}
        token = doc.get("access_token") if isinstance(doc, dict) else None
        now = self.clock.now()
        with self.storage.tx():
            if not token:
                self.storage.execute("UPDATE events_connections SET state = 'DEAUTHORIZED', state_reason = ?, "
                                     "modified = ? WHERE account = ? AND region = ? AND name = ?",
                                     ("The OAuth authorization endpoint did not give a token.", now, account, region,
                                      name))
                return None
            expires = now + float(doc["expires_in"]) if str(doc.get("expires_in", "")).isdigit() else None
            self.storage.execute("UPDATE events_connections SET state = 'AUTHORIZED', state_reason = NULL, token = ?, "
                                 "token_expires = ?, authorized = ? WHERE account = ? AND region = ? AND name = ?",
                                 (self.connection_sealer.seal(token.encode(), aad), expires, now, account, region,
                                  name))
        return token
