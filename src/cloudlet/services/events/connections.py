"""EventBridge connections and API destinations: HTTP endpoints as rule
targets, with the connection's authorization (Basic, API key, or OAuth
client credentials, for which EventBridge itself fetches and refreshes the
token from the authorization endpoint) and its invocation parameters.

A connection's secrets (password, API key value, client secret, secret
header / query / body values) are sealed with EventBridge's master key
before they are stored, as AWS keeps them in Secrets Manager; Describe
never shows them. Invocations go through a durable queue
(events_http_deliveries): PutEvents answers once they are stored, and
apihttp.py makes the requests, retrying by the target's RetryPolicy on
the clock.
"""

from __future__ import annotations

import os
import uuid

import orjson

from cloudlet.errors import AwsError

MASTER_KEY_FILE = "events-master.key"
MAX_CONNECTIONS = 50
MAX_API_DESTINATIONS = 3000
_METHODS = ("POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE")


def connection_arn(region: str, account: str, name: str, uid: str) -> str:
    return f"arn:aws:events:{region}:{account}:connection/{name}/{uid}"


def api_destination_arn(region: str, account: str, name: str, uid: str) -> str:
    return f"arn:aws:events:{region}:{account}:api-destination/{name}/{uid}"


def _split_secrets(auth_type: str, params: dict) -> tuple[dict, dict]:
    """(what Describe shows, what is sealed) of AuthParameters."""
    public: dict = {}
    secret: dict = {}
    basic = params.get("BasicAuthParameters")
    if basic:
        public["BasicAuthParameters"] = {"Username": basic.get("Username", "")}
        secret["password"] = basic.get("Password", "")
    api_key = params.get("ApiKeyAuthParameters")
    if api_key:
        public["ApiKeyAuthParameters"] = {"ApiKeyName": api_key.get("ApiKeyName", "")}
        secret["api_key"] = api_key.get("ApiKeyValue", "")
    oauth = params.get("OAuthParameters")
    if oauth:
        client = oauth.get("ClientParameters") or {}
        shown = {"ClientParameters": {"ClientID": client.get("ClientID", "")},
                 "AuthorizationEndpoint": oauth.get("AuthorizationEndpoint", ""),
                 "HttpMethod": oauth.get("HttpMethod", "POST")}
        if oauth.get("OAuthHttpParameters"):
            shown["OAuthHttpParameters"], secret["oauth_http"] = _split_http(oauth["OAuthHttpParameters"])
        public["OAuthParameters"] = shown
        secret["client_secret"] = client.get("ClientSecret", "")
    if params.get("InvocationHttpParameters"):
        public["InvocationHttpParameters"], secret["invocation_http"] = _split_http(params["InvocationHttpParameters"])
    return public, secret


def _split_http(http: dict) -> tuple[dict, dict]:
    """Connection HTTP parameters: secret values kept aside (shown without
    their Value, as Describe does)."""
    public: dict = {}
    secret: dict = {}
    for key in ("HeaderParameters", "QueryStringParameters", "BodyParameters"):
        items = http.get(key)
        if not items:
            continue
        public[key] = [{k: v for k, v in item.items() if not (k == "Value" and item.get("IsValueSecret"))}
                       for item in items]
        secret[key] = {item["Key"]: item.get("Value", "") for item in items if item.get("IsValueSecret")}
    return public, secret


def http_parameters(public: dict | None, secret: dict | None) -> dict[str, dict[str, str]]:
    """{"HeaderParameters": {key: value}, ...} with the secret values back."""
    out: dict[str, dict[str, str]] = {}
    for key in ("HeaderParameters", "QueryStringParameters", "BodyParameters"):
        values = {item["Key"]: item.get("Value", "") for item in (public or {}).get(key) or ()}
        values.update(((secret or {}).get(key)) or {})
        if values:
            out[key] = values
    return out


class ConnectionOps:
    """Mixed into EventsService."""

    @property
    def connection_sealer(self):
        sealer = self.__dict__.get("_connection_sealer")
        if sealer is None:
            from cloudlet.services.kms.crypto import load_or_create_master_key

            sealer = self.__dict__["_connection_sealer"] = load_or_create_master_key(
                os.path.join(self.cloud.data_dir, MASTER_KEY_FILE))
        return sealer

    # -- connections ------------------------------------------------------------------

    def _connection_row(self, account: str, region: str, name: str):
        return self.storage.one("SELECT name, uuid, auth_type, description, public, sealed, state, state_reason, "
                                "created, modified, authorized FROM events_connections WHERE account = ? AND "
                                "region = ? AND name = ?", (account, region, name))

    def _connection(self, ctx, name: str):
        row = self._connection_row(ctx.account_id, ctx.region, name)
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Failed to describe the connection(s). Connection '{name}' "
                                                        "does not exist.")
        return row

    def connection_secrets(self, account: str, region: str, name: str, uid: str, sealed: bytes) -> dict:
        aad = connection_arn(region, account, name, uid).encode()
        return orjson.loads(self.connection_sealer.open(bytes(sealed), aad))

    def _store_connection(self, ctx, name: str, uid: str, auth_type: str, description, auth: dict, created: float,
                          state: str) -> None:
        if auth_type not in ("BASIC", "API_KEY", "OAUTH_CLIENT_CREDENTIALS"):
            raise AwsError("ValidationException", "Provided value in parameter 'AuthorizationType' is not "
                                                  "supported.")
        needed = {"BASIC": "BasicAuthParameters", "API_KEY": "ApiKeyAuthParameters",
                  "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters"}[auth_type]
        if not auth.get(needed):
            raise AwsError("ValidationException", f"Missing '{needed}' for AuthorizationType '{auth_type}'.")
        public, secret = _split_secrets(auth_type, auth)
        aad = connection_arn(ctx.region, ctx.account_id, name, uid).encode()
        sealed = self.connection_sealer.seal(orjson.dumps(secret), aad)
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO events_connections (account, region, name, uuid, auth_type, description, public, sealed, "
                "state, created, modified, authorized) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (account, region, name) DO UPDATE SET auth_type = excluded.auth_type, description = "
                "excluded.description, public = excluded.public, sealed = excluded.sealed, state = excluded.state, "
                "modified = excluded.modified, authorized = excluded.authorized, token = NULL, token_expires = NULL",
                (ctx.account_id, ctx.region, name, uid, auth_type, description, orjson.dumps(public).decode(), sealed,
                 state, created, now, now if state == "AUTHORIZED" else None))

    def CreateConnection(self, ctx, params):
        name = params["Name"]
        if self._connection_row(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("ResourceAlreadyExistsException", f"Connection {name} already exists.")
        if self.storage.scalar("SELECT COUNT(*) FROM events_connections WHERE account = ? AND region = ?",
                               (ctx.account_id, ctx.region)) >= MAX_CONNECTIONS:
            raise AwsError("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
        auth_type = params["AuthorizationType"]
        # OAuth connections are AUTHORIZING until the first token is fetched (at the first invocation).
        state = "AUTHORIZING" if auth_type == "OAUTH_CLIENT_CREDENTIALS" else "AUTHORIZED"
        uid = str(uuid.uuid4())
        now = self.clock.now()
        self._store_connection(ctx, name, uid, auth_type, params.get("Description"), params["AuthParameters"], now,
                               state)
        return {"ConnectionArn": connection_arn(ctx.region, ctx.account_id, name, uid), "ConnectionState": state,
                "CreationTime": now, "LastModifiedTime": now}

    def _connection_summary(self, ctx, row, full: bool) -> dict:
        name, uid, auth_type, description, public, _, state, reason, created, modified, authorized = row
        out = {"ConnectionArn": connection_arn(ctx.region, ctx.account_id, name, uid), "Name": name,
               "ConnectionState": state}
        if reason:
            out["StateReason"] = reason
        out["AuthorizationType"] = auth_type
        if full:
            if description is not None:
                out["Description"] = description
            out["SecretArn"] = (f"arn:aws:secretsmanager:{ctx.region}:{ctx.account_id}:secret:events!connection/"
                                f"{name}/{uid}")
            out["AuthParameters"] = orjson.loads(public)
        out["CreationTime"] = created
        out["LastModifiedTime"] = modified
        if authorized is not None:
            out["LastAuthorizedTime"] = authorized
        return out

    def DescribeConnection(self, ctx, params):
        return self._connection_summary(ctx, self._connection(ctx, params["Name"]), full=True)

    def ListConnections(self, ctx, params):
        from cloudlet.services.events.provider import page

        rows = self.storage.all("SELECT name, uuid, auth_type, description, public, sealed, state, state_reason, "
                                "created, modified, authorized FROM events_connections WHERE account = ? AND "
                                "region = ? ORDER BY name", (ctx.account_id, ctx.region))
        items = [self._connection_summary(ctx, r, full=False) for r in rows
                 if (not params.get("NamePrefix") or r[0].startswith(params["NamePrefix"]))
                 and (not params.get("ConnectionState") or r[6] == params["ConnectionState"])]
        return page(items, params, "Connections")

    def UpdateConnection(self, ctx, params):
        name, uid, auth_type, description, public, sealed, state, _, created, _, _ = self._connection(ctx,
                                                                                                  params["Name"])
        auth_type = params.get("AuthorizationType") or auth_type
        auth = params.get("AuthParameters")
        if auth is None:
            # (keep the stored parameters, secrets included)
            old_public, old_secret = orjson.loads(public), self.connection_secrets(ctx.account_id, ctx.region, name,
                                                                                   uid, sealed)
            auth = _rejoin(old_public, old_secret)
        state = "AUTHORIZING" if auth_type == "OAUTH_CLIENT_CREDENTIALS" else "AUTHORIZED"
        self._store_connection(ctx, name, uid, auth_type,
                               params["Description"] if "Description" in params else description, auth, created, state)
        return {k: v for k, v in self._connection_summary(ctx, self._connection(ctx, name), full=False).items()
                if k in ("ConnectionArn", "ConnectionState", "CreationTime", "LastModifiedTime", "LastAuthorizedTime")}

    def DeauthorizeConnection(self, ctx, params):
        row = self._connection(ctx, params["Name"])
        with self.storage.tx():
            self.storage.execute("UPDATE events_connections SET state = 'DEAUTHORIZED', token = NULL, modified = ? "
                                 "WHERE account = ? AND region = ? AND name = ?",
                                 (self.clock.now(), ctx.account_id, ctx.region, row[0]))
        return {k: v for k, v in self._connection_summary(ctx, self._connection(ctx, row[0]), full=False).items()
                if k in ("ConnectionArn", "ConnectionState", "CreationTime", "LastModifiedTime", "LastAuthorizedTime")}

    def DeleteConnection(self, ctx, params):
        row = self._connection(ctx, params["Name"])
        out = {k: v for k, v in self._connection_summary(ctx, row, full=False).items()
               if k in ("ConnectionArn", "CreationTime", "LastModifiedTime", "LastAuthorizedTime")}
        with self.storage.tx():
            self.storage.execute("DELETE FROM events_connections WHERE account = ? AND region = ? AND name = ?",
                                 (ctx.account_id, ctx.region, row[0]))
        out["ConnectionState"] = "DELETING"
        return out

    # -- API destinations -----------------------------------------------------------------

    def _api_row(self, account: str, region: str, name: str):
        return self.storage.one("SELECT name, uuid, connection_arn, endpoint, method, rate, description, state, "
                                "created, modified FROM events_api_destinations WHERE account = ? AND region = ? AND "
                                "name = ?", (account, region, name))

    def _api(self, ctx, name: str):
        row = self._api_row(ctx.account_id, ctx.region, name)
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Failed to describe the api-destination(s). An api-"
                                                        f"destination '{name}' does not exist.")
        return row

    def _check_api_params(self, ctx, params: dict) -> None:
        arn = params.get("ConnectionArn")
        if arn is not None:
            parts = arn.split(":")
            pieces = parts[5].split("/") if len(parts) == 6 else []
            row = (self._connection_row(parts[4], parts[3], pieces[1])
                   if len(pieces) == 3 and pieces[0] == "connection" else None)
            if row is None or row[1] != pieces[2]:
                raise AwsError("ResourceNotFoundException", f"Connection '{arn}' does not exist.")
        endpoint = params.get("InvocationEndpoint")
        if endpoint is not None and not endpoint.startswith(("https://", "http://")):
            raise AwsError("ValidationException", "Invalid invocation endpoint: it must be an http(s) URL.")
        if params.get("HttpMethod") is not None and params["HttpMethod"] not in _METHODS:
            raise AwsError("ValidationException", "Provided value in parameter 'HttpMethod' is not supported.")

    def CreateApiDestination(self, ctx, params):
        name = params["Name"]
        if self._api_row(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("ResourceAlreadyExistsException", f"An api-destination '{name}' already exists.")
        self._check_api_params(ctx, params)
        uid = str(uuid.uuid4())
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO events_api_destinations (account, region, name, uuid, connection_arn, endpoint, method, "
                "rate, description, state, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', ?, ?)",
                (ctx.account_id, ctx.region, name, uid, params["ConnectionArn"], params["InvocationEndpoint"],
                 params["HttpMethod"], params.get("InvocationRateLimitPerSecond") or 300, params.get("Description"),
                 now, now))
        return {"ApiDestinationArn": api_destination_arn(ctx.region, ctx.account_id, name, uid),
                "ApiDestinationState": "ACTIVE", "CreationTime": now, "LastModifiedTime": now}

    def _api_out(self, ctx, row, full: bool) -> dict:
        name, uid, connection, endpoint, method, rate, description, state, created, modified = row
        out = {"ApiDestinationArn": api_destination_arn(ctx.region, ctx.account_id, name, uid), "Name": name}
        if full and description is not None:
            out["Description"] = description
        out.update({"ApiDestinationState": state, "ConnectionArn": connection, "InvocationEndpoint": endpoint,
                    "HttpMethod": method, "InvocationRateLimitPerSecond": rate, "CreationTime": created,
                    "LastModifiedTime": modified})
        return out

    def DescribeApiDestination(self, ctx, params):
        return self._api_out(ctx, self._api(ctx, params["Name"]), full=True)

    def ListApiDestinations(self, ctx, params):
        from cloudlet.services.events.provider import page

        rows = self.storage.all("SELECT name, uuid, connection_arn, endpoint, method, rate, description, state, "
                                "created, modified FROM events_api_destinations WHERE account = ? AND region = ? "
                                "ORDER BY name", (ctx.account_id, ctx.region))
        items = [self._api_out(ctx, r, full=False) for r in rows
                 if (not params.get("NamePrefix") or r[0].startswith(params["NamePrefix"]))
                 and (not params.get("ConnectionArn") or r[2] == params["ConnectionArn"])]
        return page(items, params, "ApiDestinations")

    def UpdateApiDestination(self, ctx, params):
        row = self._api(ctx, params["Name"])
        self._check_api_params(ctx, params)
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute(
                "UPDATE events_api_destinations SET connection_arn = ?, endpoint = ?, method = ?, rate = ?, "
                "description = ?, modified = ? WHERE account = ? AND region = ? AND name = ?",
                (params.get("ConnectionArn") or row[2], params.get("InvocationEndpoint") or row[3],
                 params.get("HttpMethod") or row[4], params.get("InvocationRateLimitPerSecond") or row[5],
                 params["Description"] if "Description" in params else row[6], now, ctx.account_id, ctx.region,
                 row[0]))
        out = self._api_out(ctx, self._api(ctx, row[0]), full=False)
        return {k: out[k] for k in ("ApiDestinationArn", "ApiDestinationState", "CreationTime", "LastModifiedTime")}

    def DeleteApiDestination(self, ctx, params):
        row = self._api(ctx, params["Name"])
        with self.storage.tx():
            self.storage.execute("DELETE FROM events_api_destinations WHERE account = ? AND region = ? AND name = ?",
                                 (ctx.account_id, ctx.region, row[0]))
        return {}


def _rejoin(public: dict, secret: dict) -> dict:
    """AuthParameters as the API takes them, from what was stored."""
    out: dict = {}
    if "BasicAuthParameters" in public:
        out["BasicAuthParameters"] = dict(public["BasicAuthParameters"], Password=secret.get("password", ""))
    if "ApiKeyAuthParameters" in public:
        out["ApiKeyAuthParameters"] = dict(public["ApiKeyAuthParameters"], ApiKeyValue=secret.get("api_key", ""))
    if "OAuthParameters" in public:
        oauth = dict(public["OAuthParameters"])
        oauth["ClientParameters"] = dict(oauth["ClientParameters"], ClientSecret=secret.get("client_secret", ""))
        if "OAuthHttpParameters" in oauth:
            oauth["OAuthHttpParameters"] = _rejoin_http(oauth["OAuthHttpParameters"], secret.get("oauth_http"))
        out["OAuthParameters"] = oauth
    if "InvocationHttpParameters" in public:
        out["InvocationHttpParameters"] = _rejoin_http(public["InvocationHttpParameters"],
                                                       secret.get("invocation_http"))
    return out


def _rejoin_http(public: dict, secret: dict | None) -> dict:
    out = {}
    for key, items in public.items():
        out[key] = [dict(item, Value=(secret or {}).get(key, {}).get(item["Key"], item.get("Value", "")))
                    for item in items]
    return out
