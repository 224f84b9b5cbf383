"""AWS Security Token Service: temporary credentials that expire by
cloudlet's clock.

Whether a caller may assume a role is decided by the gateway like any other
authorization (the role's trust policy is the resource policy of
sts:AssumeRole, see `resource_policy`); this module issues the session and
enforces what is particular to STS: durations, session policies and tags,
source identity, role chaining, web identity tokens.
"""

from __future__ import annotations

import base64
import secrets

import orjson

from cloudlet.errors import AwsError
from cloudlet.gateway.context import RequestContext
from cloudlet.services.base import Service
from cloudlet.services.iam.util import document_size, new_access_key_id, new_secret
from cloudlet.services.sts.store import MIGRATIONS
from cloudlet.services.sts.webidentity import Jwt, invalid_token

PACKED_POLICY_LIMIT = 2048
MAX_SESSION_TAGS = 50
CHAINED_MAX = 3600
ROOT_MAX = 3600


def _role_parts(role_arn: str) -> tuple[str, str, str]:
    """(account, path, name) of a role ARN."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise AwsError("ValidationError", f"{role_arn} is invalid")
    resource = parts[5][len("role/"):]
    path, _, name = resource.rpartition("/")
    return parts[4], "/" + path + "/" if path else "/", name


def _new_token() -> str:
    # AWS session tokens are long opaque strings; clients pass them back in
    # X-Amz-Security-Token.
    return "IQoJb3JpZ2luX2Vj" + base64.b64encode(secrets.token_bytes(300)).decode()


class StsService(Service):
    model_name = "sts"
    migrations = MIGRATIONS

    def start(self) -> None:
        # Expired sessions are forgotten a day after they expire.
        self.cloud.scheduler.every("sts-expire-sessions", 3600, self._expire)

    def _expire(self, now: float) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM sts_sessions WHERE expires < ?", (now - 86400,))

    # -- the gateway's questions ----------------------------------------

    def resource_policy(self, ctx: RequestContext, operation: str, resource: str, params: dict):
        """The trust policy is the resource policy of sts:AssumeRole."""
        if operation != "AssumeRole":
            return None
        account, _, name = _role_parts(params["RoleArn"])
        iam = self.cloud.service("iam")
        row = iam.storage.one("SELECT trust_policy FROM iam_roles WHERE account = ? AND name = ?", (account, name))
        if row is None:
            return None
        return row[0], account, "trust"

    def authz_action(self, operation: str) -> str | None:
        # "No permissions are required to perform this operation": an explicit
        # deny of sts:GetCallerIdentity does not stop it (STS API reference).
        # GetSessionToken likewise needs no permission: its credentials carry
        # exactly the user's own.
        return "" if operation in ("GetCallerIdentity", "GetSessionToken") else None

    def authz_resources(self, ctx: RequestContext, operation: str, params: dict) -> list[str]:
        if operation == "AssumeRole":
            return [params["RoleArn"]]
        if operation == "GetFederationToken":
            return [f"arn:aws:sts::{ctx.account_id}:federated-user/{params['Name']}"]
        return ["*"]

    def authz_context(self, ctx: RequestContext, operation: str, params: dict) -> dict:
        """STS condition keys (IAM User Guide, "Available keys for AWS STS")."""
        out = {}
        if params.get("ExternalId") is not None:
            out["sts:ExternalId"] = params["ExternalId"]
        if params.get("RoleSessionName"):
            out["sts:RoleSessionName"] = params["RoleSessionName"]
        if params.get("TransitiveTagKeys"):
            out["sts:TransitiveTagKeys"] = list(params["TransitiveTagKeys"])
        if params.get("SourceIdentity"):
            out["sts:SourceIdentity"] = params["SourceIdentity"]
        if params.get("DurationSeconds"):
            out["sts:DurationSeconds"] = params["DurationSeconds"]
        return out

    def session(self, access_key: str):
        return self.storage.one(
            "SELECT access_key, secret, token, account, kind, arn, user_id, role_arn, role_name, session_name, "
            "user_name, issued, expires, source_identity, tags, transitive, policies, chained, mfa "
            "FROM sts_sessions WHERE access_key = ?", (access_key,))

    # -- issuing ---------------------------------------------------------

    def _issue(self, account: str, kind: str, arn: str, user_id: str, duration: int, **fields) -> dict:
        key, secret, token = new_access_key_id(temporary=True), new_secret(), _new_token()
        now = self.clock.now()
        expires = float(int(now + duration))
        cols = {"access_key": key, "secret": secret, "token": token, "account": account, "kind": kind, "arn": arn,
                "user_id": user_id, "issued": now, "expires": expires}
        cols.update({k: v for k, v in fields.items() if v is not None})
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        with self.storage.tx():
            self.storage.execute(f"INSERT INTO sts_sessions ({names}) VALUES ({marks})", tuple(cols.values()))
        return {"AccessKeyId": key, "SecretAccessKey": secret, "SessionToken": token, "Expiration": expires}

    def _session_policies(self, params: dict) -> tuple[list[str], int]:
        """Session policy documents (inline + managed ARNs) and their packed
        size as a percentage of the limit."""
        iam = self.cloud.service("iam")
        documents = []
        size = 0
        if params.get("Policy"):
            iam.check_policy_document(params["Policy"], "session")
            documents.append(params["Policy"])
            size += document_size(params["Policy"])
        for ref in params.get("PolicyArns") or ():
            arn = ref.get("arn")
            doc = iam.policy_document(arn) if arn else None
            if doc is None:
                raise AwsError("InvalidParameterValue", f"Invalid policy ARN: {arn}")
            documents.append(doc)
            size += len(arn)
        for tag in params.get("Tags") or ():
            size += len(tag["Key"]) + len(tag.get("Value", ""))
        percent = (size * 100 + PACKED_POLICY_LIMIT - 1) // PACKED_POLICY_LIMIT
        if percent > 100:
            what = "Policy" if params.get("Policy") else "PolicyArns"
            raise AwsError("PackedPolicyTooLarge",
                           f"Packed policy consumes {percent}% of allotted space, please use smaller policy for this {what}.")
        return documents, percent

    def _caller_session(self, ctx: RequestContext):
        if ctx.access_key and ctx.principal.session_token:
            return self.session(ctx.access_key)
        return None

    def authz_prepare(self, ctx: RequestContext, operation: str, params: dict) -> None:
        if operation in ("AssumeRole", "GetSessionToken"):
            self._mfa(ctx, params)

    def _mfa(self, ctx: RequestContext, params: dict) -> bool:
        """Whether the call proves MFA: its SerialNumber + TokenCode are a
        fresh code of the calling IAM user's device (iam/mfa.py), checked
        once, before the policies that may require it; a bad one is
        AccessDenied."""
        if ctx.extra.get("mfa_verified"):
            return True
        if params.get("SerialNumber") is None and params.get("TokenCode") is None:
            return False
        principal = ctx.principal
        user = principal.name if principal.type == "IAMUser" else None
        self.cloud.service("iam").check_mfa(principal.account_id, user, params.get("SerialNumber"),
                                            params.get("TokenCode"))
        ctx.extra["mfa_verified"] = True
        return True

    def AssumeRole(self, ctx: RequestContext, params: dict) -> dict:
        caller = ctx.principal
        if caller.is_root:
            raise AwsError("AccessDenied", "Roles may not be assumed by root accounts.", 403)
        account, path, name = _role_parts(params["RoleArn"])
        iam = self.cloud.service("iam")
        role = iam.storage.one("SELECT name, id, arn, max_session FROM iam_roles WHERE account = ? AND name = ?",
                               (account, name))
        if role is None:  # the gateway denies first when enforcing; this covers --iam-mode off
            raise AwsError("AccessDenied", f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on "
                                           f"resource: {params['RoleArn']}", 403)
        role_name, role_id, role_arn, max_session = role
        parent = self._caller_session(ctx)
        chained = parent is not None and parent[4] == "AssumedRole"
        duration = params.get("DurationSeconds") or 3600
        if chained and duration > CHAINED_MAX:
            raise AwsError("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for "
                                              "roles assumed by role chaining.")
        if duration > max_session:
            raise AwsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                                              "this role.")
        documents, packed = self._session_policies(params)
        tags = {t["Key"]: t.get("Value", "") for t in params.get("Tags") or ()}
        trust = self.resource_policy(ctx, "AssumeRole", role_arn, params)
        # Passing session tags or a source identity are permissions of their
        # own, granted (or not) by the trust policy.
        if tags:
            self.cloud.authorizer.require(ctx, self, ctx.op_model, params, "sts:TagSession", role_arn, trust)
        if params.get("SourceIdentity"):
            self.cloud.authorizer.require(ctx, self, ctx.op_model, params, "sts:SetSourceIdentity", role_arn, trust)
        if len(tags) > MAX_SESSION_TAGS:
            raise AwsError("ValidationError", "Tags exceed the maximum of 50.")
        transitive = list(params.get("TransitiveTagKeys") or [])
        lower = {k.lower() for k in tags}
        for key in transitive:
            if key.lower() not in lower:
                raise AwsError("InvalidParameterValue", "The specified transitive tag key must be included in the "
                                                        "requested tags.")
        source_identity = params.get("SourceIdentity")
        if parent is not None:
            # Transitive tags of the calling session carry over and cannot be
            # overridden; a source identity, once set, stays.
            parent_tags = orjson.loads(parent[14])
            parent_transitive = orjson.loads(parent[15])
            for key in parent_transitive:
                if key.lower() in lower and tags.get(key) != parent_tags.get(key):
                    raise AwsError("InvalidParameterValue", f"One of the specified transitive tag keys can't be set "
                                                            f"because it conflicts with a transitive tag key from the "
                                                            f"calling session. Key: {key}")
                tags.setdefault(key, parent_tags.get(key, ""))
                if key not in transitive:
                    transitive.append(key)
            if parent[13]:
                if source_identity and source_identity != parent[13]:
                    raise AwsError("InvalidParameterValue", "The source identity in the calling session can't be "
                                                            "changed.")
                source_identity = parent[13]
        session_name = params["RoleSessionName"]
        arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
        creds = self._issue(account, "AssumedRole", arn, f"{role_id}:{session_name}", duration,
                            role_arn=role_arn, role_name=role_name, session_name=session_name,
                            source_identity=source_identity, tags=orjson.dumps(tags).decode(),
                            transitive=orjson.dumps(transitive).decode(), policies=orjson.dumps(documents).decode(),
                            chained=int(chained), mfa=int(self._mfa(ctx, params)))
        with iam.storage.tx():
            iam.storage.execute("UPDATE iam_roles SET last_used = ?, last_used_region = ? WHERE account = ? AND name = ?",
                                (int(self.clock.now()), ctx.region, account, role_name))
        out = {"Credentials": creds, "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session_name}", "Arn": arn}}
        if documents or tags:
            out["PackedPolicySize"] = packed
        if source_identity:
            out["SourceIdentity"] = source_identity
        return out

    def GetSessionToken(self, ctx: RequestContext, params: dict) -> dict:
        caller = ctx.principal
        if caller.session_token:
            raise AwsError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        duration = params.get("DurationSeconds") or (ROOT_MAX if caller.is_root else 43200)
        if caller.is_root and duration > ROOT_MAX:
            duration = ROOT_MAX
        user_name = caller.name if caller.type == "IAMUser" else None
        creds = self._issue(caller.account_id, "Session", caller.arn, caller.user_id, duration,
                            user_name=user_name, mfa=int(self._mfa(ctx, params)))
        return {"Credentials": creds}

    def GetFederationToken(self, ctx: RequestContext, params: dict) -> dict:
        caller = ctx.principal
        if caller.session_token:
            raise AwsError("AccessDenied", "Cannot call GetFederationToken with session credentials", 403)
        duration = params.get("DurationSeconds") or (ROOT_MAX if caller.is_root else 43200)
        if caller.is_root:
            duration = min(duration, ROOT_MAX)
        documents, packed = self._session_policies(params)
        name = params["Name"]
        account = caller.account_id
        arn = f"arn:aws:sts::{account}:federated-user/{name}"
        tags = {t["Key"]: t.get("Value", "") for t in params.get("Tags") or ()}
        creds = self._issue(account, "FederatedUser", arn, f"{account}:{name}", duration,
                            user_name=caller.name if caller.type == "IAMUser" else None, session_name=name,
                            tags=orjson.dumps(tags).decode(), policies=orjson.dumps(documents).decode())
        out = {"Credentials": creds, "FederatedUser": {"FederatedUserId": f"{account}:{name}", "Arn": arn}}
        if documents or tags:
            out["PackedPolicySize"] = packed
        return out

    def AssumeRoleWithWebIdentity(self, ctx: RequestContext, params: dict) -> dict:
        from cloudlet.iam import AuthzRequest, PolicySet, PrincipalInfo, evaluate, parse_policy

        token = Jwt(params["WebIdentityToken"])
        claims = token.claims
        issuer = claims.get("iss")
        if not isinstance(issuer, str):
            raise invalid_token("The ID Token provided is missing the iss claim.")
        host_path = issuer.split("://", 1)[-1].rstrip("/")
        account, _, role_name = _role_parts(params["RoleArn"])
        iam = self.cloud.service("iam")
        provider = iam.oidc_provider(account, host_path)
        if provider is None:
            raise invalid_token(f"No OpenIDConnect provider found in your account for {issuer}")
        token.verify(self._jwks(issuer))
        now = self.clock.now()
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and now >= exp:
            raise AwsError("ExpiredTokenException", "Token expired: current date/time must be before the "
                                                    "expiration date/time.")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if provider["client_ids"] and not any(a in provider["client_ids"] for a in audiences):
            raise invalid_token("Incorrect token audience")
        role = iam.storage.one("SELECT name, id, arn, max_session, trust_policy FROM iam_roles WHERE account = ? "
                               "AND name = ?", (account, role_name))
        subject = claims.get("sub", "")
        denied = AwsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        if role is None:
            raise denied
        role_name, role_id, role_arn, max_session, trust = role
        if self.cloud.authorizer.mode != "off":
            principal = PrincipalInfo(arn=provider["arn"], account=account, type="WebIdentityUser",
                                      user_id=subject)
            context = {f"{host_path}:aud": audiences[0] if len(audiences) == 1 else audiences,
                       f"{host_path}:sub": subject, "aws:FederatedProvider": provider["arn"]}
            if "amr" in claims:
                context[f"{host_path}:amr"] = claims["amr"]
            decision = evaluate(AuthzRequest(principal=principal, action="sts:AssumeRoleWithWebIdentity",
                                             resource=role_arn, context=context),
                                PolicySet(identity=[], resource=parse_policy(trust, "trust", source="trust"),
                                          resource_account=account), now)
            if not decision.allowed:
                if self.cloud.authorizer.mode == "enforce":
                    raise denied
                self.cloud.authorizer.log_soft(role_arn, "sts:AssumeRoleWithWebIdentity", decision)
        duration = params.get("DurationSeconds") or 3600
        if duration > max_session:
            raise AwsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                                              "this role.")
        documents, packed = self._session_policies(params)
        session_name = params["RoleSessionName"]
        arn = f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"
        creds = self._issue(account, "AssumedRole", arn, f"{role_id}:{session_name}", duration,
                            role_arn=role_arn, role_name=role_name, session_name=session_name,
                            policies=orjson.dumps(documents).decode())
        out = {"Credentials": creds, "SubjectFromWebIdentityToken": subject,
               "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session_name}", "Arn": arn},
               "Provider": provider["arn"].split("/", 1)[1] if "/" in provider["arn"] else host_path,
               "Audience": audiences[0] if audiences else ""}
        if documents:
            out["PackedPolicySize"] = packed
        return out

    def _jwks(self, issuer: str) -> dict:
        row = self.storage.one("SELECT jwks FROM sts_jwks WHERE issuer = ?", (issuer.rstrip("/"),))
        if row is None:
            raise AwsError("IDPCommunicationError", "Couldn't retrieve verification key from your identity provider, "
                                                    "please reference AssumeRoleWithWebIdentity documentation for "
                                                    "requirements")
        return orjson.loads(row[0])

    def register_jwks(self, issuer: str, jwks: dict) -> None:
        """Publish an identity provider's keys (admin API: tests stand in for
        the provider's jwks_uri)."""
        with self.storage.tx():
            self.storage.execute("INSERT INTO sts_jwks (issuer, jwks) VALUES (?, ?) ON CONFLICT(issuer) "
                                 "DO UPDATE SET jwks = excluded.jwks", (issuer.rstrip("/"), orjson.dumps(jwks).decode()))

    def GetCallerIdentity(self, ctx: RequestContext, params: dict) -> dict:
        p = ctx.principal
        return {"UserId": p.user_id, "Account": p.account_id, "Arn": p.arn}

    def DecodeAuthorizationMessage(self, ctx: RequestContext, params: dict) -> dict:
        from cloudlet.gateway import authzmessage

        decoded = authzmessage.decode(self.storage, params["EncodedMessage"])
        if decoded is None:
            raise AwsError("InvalidAuthorizationMessageException", "Invalid encoded message")
        return {"DecodedMessage": decoded}

    def GetAccessKeyInfo(self, ctx: RequestContext, params: dict) -> dict:
        key = params["AccessKeyId"]
        if key.startswith("ASIA"):
            row = self.session(key)
            if row is not None:
                return {"Account": row[3]}
        if key.startswith("AKIA"):
            iam = self.cloud.service("iam")
            account = iam.storage.scalar("SELECT account FROM iam_access_keys WHERE id = ?", (key,))
            if account is not None:
                return {"Account": account}
        if key.isdigit() and len(key) == 12:
            return {"Account": key}
        return {"Account": self.cloud.settings.account_id}
