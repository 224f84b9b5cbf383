"""KMS grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
RevokeGrant, and the authorization they give (a grant allows its
operations to its grantee when no policy explicitly denies, under its
encryption-context constraints).

Grants take effect at once in cloudlet (AWS's are eventually consistent),
so a grant token is accepted as soon as it is issued; a malformed one is
refused as on AWS.
"""

from __future__ import annotations

import base64
import re
import secrets

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.kms.keys import not_found, validation

_SYMMETRIC_OPS = ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                  "ReEncryptTo", "CreateGrant", "RetireGrant", "DescribeKey", "GenerateDataKeyPair",
                  "GenerateDataKeyPairWithoutPlaintext")
_OPERATIONS = {
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"): _SYMMETRIC_OPS,
    ("RSA", "ENCRYPT_DECRYPT"): ("Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey", "CreateGrant",
                                "RetireGrant", "DescribeKey"),
    ("RSA", "SIGN_VERIFY"): ("Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey"),
    ("ECC", "SIGN_VERIFY"): ("Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey"),
    ("ECC", "KEY_AGREEMENT"): ("DeriveSharedSecret", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey"),
    ("HMAC", "GENERATE_VERIFY_MAC"): ("GenerateMac", "VerifyMac", "CreateGrant", "RetireGrant", "DescribeKey"),
    ("ML_KEM", "ENCAPSULATE_DECAPSULATE"): ("Encapsulate", "Decapsulate", "GetPublicKey", "CreateGrant",
                                            "RetireGrant", "DescribeKey"),
    ("ML_DSA", "SIGN_VERIFY"): ("Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey"),
}
# Operations whose requests carry an encryption context (grant constraints
# apply only to these).
_CONTEXT_OPS = frozenset({"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                          "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair",
                          "GenerateDataKeyPairWithoutPlaintext", "CreateGrant", "RetireGrant"})
_PRINCIPAL = re.compile(r"^(arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+|[a-z0-9.-]+\.amazonaws\.com)$")
_GRANT_ID = re.compile(r"^[0-9a-f]{64}$")


def _family(spec: str) -> str:
    for prefix in ("RSA", "ECC", "HMAC", "ML_KEM", "ML_DSA"):
        if spec.startswith(prefix):
            return prefix
    return spec


def grant_operations(spec: str, usage: str) -> tuple:
    return _OPERATIONS.get((_family(spec), usage)) or _OPERATIONS.get((spec, usage)) or ()


class GrantOps:
    """Mixin of KmsService."""

    def _grant_row(self, grant_id: str):
        return self.storage.one("SELECT id, account, region, key_id, name, grantee, retiring, operations, constraints, "
                                "issuing_account, created FROM kms_grants WHERE id = ?", (grant_id,))

    def _entry(self, row) -> dict:
        grant_id, account, region, key_id, name, grantee, retiring, operations, constraints, issuing, created = row
        out = {"KeyId": self.key_arn(region, account, key_id), "GrantId": grant_id, "Name": name or "",
               "CreationDate": created, "GranteePrincipal": grantee, "IssuingAccount": f"arn:aws:iam::{issuing}:root",
               "Operations": orjson.loads(operations)}
        if retiring:
            out["RetiringPrincipal"] = retiring
        if constraints:
            out["Constraints"] = orjson.loads(constraints)
        return out

    @staticmethod
    def _token(grant_id: str) -> str:
        # Opaque to callers; it names the grant (and a random part, as each
        # CreateGrant call gets a token of its own).
        raw = bytes.fromhex(grant_id) + secrets.token_bytes(32)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def check_grant_tokens(self, tokens: list | None) -> None:
        for token in tokens or ():
            try:
                raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            except (ValueError, TypeError):
                raw = b""
            if len(raw) != 64 or self._grant_row(raw[:32].hex()) is None:
                raise AwsError("InvalidGrantTokenException", "Invalid grant token")

    # -- the calls -------------------------------------------------------

    def CreateGrant(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        self.check_grant_tokens(params.get("GrantTokens"))
        grantee = params["GranteePrincipal"]
        retiring = params.get("RetiringPrincipal")
        for principal in filter(None, (grantee, retiring)):
            if not _PRINCIPAL.match(principal):
                raise validation(f"Invalid principal {principal}")
        operations = list(dict.fromkeys(params["Operations"]))
        allowed = grant_operations(key.key_spec, key.key_usage)
        for op in operations:
            if op not in allowed:
                raise validation(f"Grant operations {op} is not valid for a {key.key_spec} {key.key_usage} key")
        constraints = params.get("Constraints")
        if constraints:
            if not (constraints.get("EncryptionContextEquals") or constraints.get("EncryptionContextSubset")):
                constraints = None
            elif any(op not in _CONTEXT_OPS for op in operations):
                raise validation("Grant constraints are not supported for the requested operations")
        name = params.get("Name")
        grant_args = (grantee, retiring, orjson.dumps(operations).decode(),
                      orjson.dumps(constraints).decode() if constraints else None)
        if params.get("DryRun"):
            raise AwsError("DryRunOperationException", "The request would have succeeded, but the DryRun option "
                                                       "is set.")
        with self.storage.tx():
            if name:
                row = self.storage.one("SELECT id, grantee, retiring, operations, constraints FROM kms_grants "
                                       "WHERE account = ? AND region = ? AND key_id = ? AND name = ?",
                                       (key.account, key.region, key.id, name))
                if row is not None and tuple(row[1:]) == grant_args:
                    return {"GrantId": row[0], "GrantToken": self._token(row[0])}
            grant_id = secrets.token_hex(32)
            self.storage.execute(
                "INSERT INTO kms_grants (id, account, region, key_id, name, grantee, retiring, operations, "
                "constraints, issuing_account, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (grant_id, key.account, key.region, key.id, name, *grant_args, ctx.account_id, self.clock.now()))
        return {"GrantId": grant_id, "GrantToken": self._token(grant_id)}

    def ListGrants(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"])
        limit = self.limit(params, 100, 50)
        start = self.marker(params)
        where, args = "account = ? AND region = ? AND key_id = ?", [key.account, key.region, key.id]
        if params.get("GrantId"):
            if self._grant_row(params["GrantId"]) is None:
                raise AwsError("InvalidGrantIdException", "Invalid grant id")
            where += " AND id = ?"
            args.append(params["GrantId"])
        if params.get("GranteePrincipal"):
            where += " AND grantee = ?"
            args.append(params["GranteePrincipal"])
        rows = self.storage.all(
            "SELECT id, account, region, key_id, name, grantee, retiring, operations, constraints, issuing_account, "
            f"created FROM kms_grants WHERE {where} ORDER BY created, id LIMIT ? OFFSET ?", (*args, limit + 1, start))
        out: dict = {"Grants": [self._entry(r) for r in rows[:limit]], "Truncated": len(rows) > limit}
        if len(rows) > limit:
            out["NextMarker"] = str(start + limit)
        return out

    def ListRetirableGrants(self, ctx, params):
        limit = self.limit(params, 100, 50)
        start = self.marker(params)
        rows = self.storage.all(
            "SELECT id, account, region, key_id, name, grantee, retiring, operations, constraints, issuing_account, "
            "created FROM kms_grants WHERE retiring = ? AND region = ? ORDER BY created, id LIMIT ? OFFSET ?",
            (params["RetiringPrincipal"], ctx.region, limit + 1, start))
        out: dict = {"Grants": [self._entry(r) for r in rows[:limit]], "Truncated": len(rows) > limit}
        if len(rows) > limit:
            out["NextMarker"] = str(start + limit)
        return out

    def RevokeGrant(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"])
        grant_id = params["GrantId"]
        if not _GRANT_ID.match(grant_id):
            raise AwsError("InvalidGrantIdException", "Invalid grant id")
        if params.get("DryRun"):
            raise AwsError("DryRunOperationException", "The request would have succeeded, but the DryRun option "
                                                       "is set.")
        with self.storage.tx():
            cur = self.storage.execute("DELETE FROM kms_grants WHERE id = ? AND account = ? AND region = ? AND "
                                       "key_id = ?", (grant_id, key.account, key.region, key.id))
        if not cur.rowcount:
            raise not_found(f"Grant ID {grant_id} not found")
        return {}

    def RetireGrant(self, ctx, params):
        token, grant_id = params.get("GrantToken"), params.get("GrantId")
        if token:
            self.check_grant_tokens([token])
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            grant_id = raw[:32].hex()
        elif not (grant_id and params.get("KeyId")):
            raise validation("Grant token OR (grant ID, key ID) must be specified")
        row = self._grant_row(grant_id) if _GRANT_ID.match(grant_id or "") else None
        if row is None:
            raise AwsError("InvalidGrantIdException", "Invalid grant id")
        if params.get("KeyId"):
            key = self.key_for(ctx, params["KeyId"])
            if (key.account, key.region, key.id) != (row[1], row[2], row[3]):
                raise validation(f"Invalid KeyId={params['KeyId']} specified for grant {grant_id}")
        # Who may retire: the retiring principal, a grantee given RetireGrant,
        # and the account that owns the key (AWS KMS Developer Guide,
        # "Retiring and revoking grants").
        principal = ctx.principal
        names = {principal.arn, principal.attributes.get("role_arn")}
        operations = orjson.loads(row[7])
        if not (row[6] in names or (row[5] in names and "RetireGrant" in operations)
                or (principal.is_root and principal.account_id == row[1])):
            raise AwsError("AccessDeniedException", f"User: {principal.arn} is not authorized to perform: "
                                                    f"kms:RetireGrant on this grant")
        if params.get("DryRun"):
            raise AwsError("DryRunOperationException", "The request would have succeeded, but the DryRun option "
                                                       "is set.")
        with self.storage.tx():
            self.storage.execute("DELETE FROM kms_grants WHERE id = ?", (grant_id,))
        return {}

    # -- authorization -----------------------------------------------------

    def grant_allows(self, ctx, key, operation: str, context: dict | None) -> bool:
        """Whether a grant on `key` gives the caller `operation` (AWS's grant
        operation names: ReEncryptFrom / ReEncryptTo) for this encryption
        context."""
        principal = ctx.principal
        names = [principal.arn]
        if principal.attributes.get("role_arn"):
            names.append(principal.attributes["role_arn"])
        if principal.type == "AWSService":
            names.append(principal.name)
        marks = ",".join("?" * len(names))
        rows = self.storage.all(f"SELECT operations, constraints FROM kms_grants WHERE account = ? AND region = ? "
                                f"AND key_id = ? AND grantee IN ({marks})", (key.account, key.region, key.id, *names))
        given = context or {}
        for operations, constraints in rows:
            if operation not in orjson.loads(operations):
                continue
            if constraints:
                c = orjson.loads(constraints)
                equals, subset = c.get("EncryptionContextEquals"), c.get("EncryptionContextSubset")
                if equals is not None and given != equals:
                    continue
                if subset is not None and any(given.get(k) != v for k, v in subset.items()):
                    continue
            return True
        return False
