"""Access keys cloudlet issued: IAM users' long-term keys (AKIA...) and STS
temporary credentials (ASIA...). Looks a key up, says whose it is and what
secret verifies it; the gateway then checks the signature, the key's status
and the session's expiry."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from cloudlet.gateway.auth import Principal, root_principal


@dataclass(slots=True)
class IssuedKey:
    access_key: str
    secret: str
    principal: Principal
    active: bool = True
    session_token: str | None = None
    expires: float | None = None
    last_used: int | None = None


def looks_issued(key: str) -> bool:
    return len(key) == 20 and key[:4] in ("AKIA", "ASIA")


class IssuedKeys:
    def __init__(self, cloud):
        self.cloud = cloud

    def lookup(self, key: str) -> IssuedKey | None:
        if not looks_issued(key):
            return None
        if key.startswith("AKIA"):
            return self._long_term(key)
        return self._temporary(key)

    def _long_term(self, key: str) -> IssuedKey | None:
        iam = self.cloud.service("iam")
        row = iam.storage.one("SELECT k.secret, k.account, k.user_name, k.status, k.last_used, u.arn, u.id, u.name "
                              "FROM iam_access_keys k LEFT JOIN iam_users u ON u.account = k.account "
                              "AND u.name = k.user_name WHERE k.id = ?", (key,))
        if row is None:
            return None
        secret, account, user, status, last_used, arn, user_id, name = row
        if user is None:
            principal = root_principal(account)
        else:
            principal = Principal(account_id=account, arn=arn, user_id=user_id, type="IAMUser", name=name)
        principal.access_key = key
        if last_used is None or last_used < self.cloud.clock.now() - 60:
            principal.attributes["key_last_used_stale"] = True
        return IssuedKey(key, secret, principal, active=status == "Active", last_used=last_used)

    def _temporary(self, key: str) -> IssuedKey | None:
        sts = self.cloud.service("sts")
        row = sts.session(key)
        if row is None:
            return None
        (access_key, secret, token, account, kind, arn, user_id, role_arn, role_name, session_name, user_name,
         issued, expires, source_identity, tags, transitive, policies, chained, mfa) = row
        attributes = {
            "issued": issued, "mfa": bool(mfa), "tags": orjson.loads(tags), "transitive": orjson.loads(transitive),
            "session_policies": orjson.loads(policies), "source_identity": source_identity, "kind": kind,
        }
        if kind == "AssumedRole":
            attributes.update(role_arn=role_arn, role_name=role_name, session_name=session_name)
            principal = Principal(account_id=account, arn=arn, user_id=user_id, type="AssumedRole",
                                  name=session_name, attributes=attributes)
        elif kind == "FederatedUser":
            attributes.update(parent_user=user_name)
            principal = Principal(account_id=account, arn=arn, user_id=user_id, type="FederatedUser",
                                  name=session_name, attributes=attributes)
        else:  # GetSessionToken: the same user, with a token
            attributes.update(parent_user=user_name)
            if user_name is None:
                principal = root_principal(account)
                principal.attributes = attributes
            else:
                principal = Principal(account_id=account, arn=arn, user_id=user_id, type="IAMUser", name=user_name,
                                      attributes=attributes)
        principal.access_key = access_key
        principal.session_token = token
        return IssuedKey(access_key, secret, principal, session_token=token, expires=expires)
