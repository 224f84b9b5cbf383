"""CloudWatch Logs resource policies: what lets AWS services (EventBridge,
Route 53, vended-log delivery, ...) create streams in and put events into an
account's log groups. Put / Describe / DeleteResourcePolicy.

Two scopes, as the API has them:

- account-level (no resourceArn): at most 10 per account and Region
  (LimitExceededException "Resource limit exceeded.", replacing one at the
  limit is fine), keyed by policyName;
- resource-scoped (resourceArn: a log group's ARN): one per group, guarded
  by a revision id (expectedRevisionId: none to create, the current one to
  replace or delete), deleted with its group.

A document must be a JSON policy with a Principal in every statement
(InvalidParameterException "Could not convert to persistable policy."
otherwise); its length is checked against the model (1..51200). Put answers
with the document as sent; Describe with it as stored, normalized as AWS
stores it (Version "2008-10-17" when absent, Sid / Effect / Principal /
Action / Resource / Condition order, one-element lists as their element).

Enforcement (`resource_policy`): as AWS documents, the policies apply only
to AWS service principals (calls made through `Gateway.call` with
`invoked_by`) and only to logs:CreateLogStream and logs:PutLogEvents; IAM
users, roles and other accounts are decided by IAM policies alone. For a
log group or stream ARN the hook answers one document: every statement of
the account's policies in that Region plus the group's own, without Sids
(they may repeat across policies); statements the IAM engine cannot
evaluate (a Resource that is no ARN) are left out, as they match nothing.
The combined text is cached per (account, Region, group) and the cache is
dropped by every write.
"""

from __future__ import annotations

import json

from cloudlet import ids
from cloudlet.errors import AwsError

MAX_ACCOUNT_POLICIES = 10
DEFAULT_VERSION = "2008-10-17"
OPERATIONS = frozenset({"PutResourcePolicy", "DescribeResourcePolicies", "DeleteResourcePolicy"})
# The only actions a Logs resource policy can grant (the PutResourcePolicy reference).
GRANTABLE = frozenset({"CreateLogStream", "PutLogEvents"})

_UNPERSISTABLE = "Could not convert to persistable policy."
_CONFLICT = "Multiple concurrent requests to update the same resource were in conflict."
_TOP_FIELDS = ("Version", "Id", "Statement")
_STATEMENT_FIELDS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                     "NotResource", "Condition")
_PRINCIPAL_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")
_MISSING = object()
_CACHE_LIMIT = 4096


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def _null(member: str) -> AwsError:
    return _invalid(f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
                    "Member must not be null")


def _not_found(name) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Policy with name [{name}] does not exist.")


def _strings(value) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _statements(doc: dict) -> list:
    st = doc["Statement"]
    return [st] if isinstance(st, dict) else st


def _principal_ok(element) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict) or not element:
        return False
    for key, values in element.items():
        if key not in _PRINCIPAL_KEYS or not _strings(values):
            return False
        if key == "AWS":
            for v in [values] if isinstance(values, str) else values:
                # an account, an ARN or "*": a service name here is refused
                if not (v == "*" or (len(v) == 12 and v.isdigit()) or v.startswith("arn:")):
                    return False
    return True


def _condition_ok(block) -> bool:
    if not isinstance(block, dict):
        return False
    for pairs in block.values():
        if not isinstance(pairs, dict):
            return False
        for values in pairs.values():
            if not (_scalar(values) or (isinstance(values, list) and all(_scalar(v) for v in values))):
                return False
    return True


def parse_document(text: str) -> dict:
    """The policy a document holds, or InvalidParameterException."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise _invalid(_UNPERSISTABLE) from None
    if not isinstance(doc, dict) or any(k not in _TOP_FIELDS for k in doc):
        raise _invalid(_UNPERSISTABLE)
    if doc.get("Version", DEFAULT_VERSION) not in ("2008-10-17", "2012-10-17"):
        raise _invalid(_UNPERSISTABLE)
    statements = doc.get("Statement")
    if not isinstance(statements, (dict, list)) or not statements:
        raise _invalid(_UNPERSISTABLE)
    for s in _statements(doc):
        if not isinstance(s, dict) or any(k not in _STATEMENT_FIELDS for k in s):
            raise _invalid(_UNPERSISTABLE)
        if s.get("Effect") not in ("Allow", "Deny") or ("Sid" in s and not isinstance(s["Sid"], str)):
            raise _invalid(_UNPERSISTABLE)
        for one, other in (("Action", "NotAction"), ("Principal", "NotPrincipal")):
            if (one in s) == (other in s):  # exactly one of them
                raise _invalid(_UNPERSISTABLE)
        if ("Resource" in s and "NotResource" in s) or \
                not all(_strings(s[k]) for k in ("Action", "NotAction", "Resource", "NotResource") if k in s):
            raise _invalid(_UNPERSISTABLE)
        if not _principal_ok(s.get("Principal", s.get("NotPrincipal"))):
            raise _invalid(_UNPERSISTABLE)
        if "Condition" in s and not _condition_ok(s["Condition"]):
            raise _invalid(_UNPERSISTABLE)
    return doc


def _one(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def normalized(doc: dict) -> str:
    """The document as Logs stores it and DescribeResourcePolicies shows it."""
    out: dict = {"Version": doc.get("Version", DEFAULT_VERSION)}
    if "Id" in doc:
        out["Id"] = doc["Id"]
    statements = []
    for s in _statements(doc):
        n = {}
        for key in _STATEMENT_FIELDS:
            if key not in s:
                continue
            value = s[key]
            if key in ("Principal", "NotPrincipal") and isinstance(value, dict):
                value = {k: _one(v) for k, v in value.items()}
            elif key == "Condition":
                value = {op: {k: _one(v) for k, v in pairs.items()} for op, pairs in value.items()}
            else:
                value = _one(value)
            n[key] = value
        statements.append(n)
    out["Statement"] = statements
    return json.dumps(out, separators=(",", ":"))


def _enforceable(statement: dict) -> bool:
    """Whether the IAM engine can evaluate the statement (Logs stores
    Resource values that are no ARN; such a statement matches nothing)."""
    from cloudlet.iam import parse_policy
    from cloudlet.iam.policy import PolicyError

    try:
        parse_policy({"Version": "2012-10-17", "Statement": [statement]}, "resource")
    except PolicyError:
        return False
    return True


class ResourcePolicyOps:
    """Mixed into LogsService."""

    # -- input -----------------------------------------------------------------

    def check_input(self, op, params: dict, request):
        """The model's constraints for the resource-policy operations, with
        Logs' code for them (InvalidParameterException); the rest of the
        service keeps the generic validation."""
        if op.name not in OPERATIONS:
            return False
        from cloudlet.protocol.validate import check

        check(op.input, params, "InvalidParameterException")
        return None

    # -- cache -----------------------------------------------------------------

    def _policy_cache(self) -> dict:
        return self.__dict__.setdefault("_resource_policy_cache", {})

    def forget_resource_policies(self) -> None:
        self._policy_cache().clear()

    def reset(self) -> None:
        self.forget_resource_policies()
        super().reset()

    # -- rows --------------------------------------------------------------------

    def _scoped_group(self, ctx, arn: str):
        """The log group a resourceArn names (an ARN of the caller's)."""
        return self._tagged_group(ctx, arn.removesuffix(":*"))

    @staticmethod
    def _policy_out(row) -> dict:
        name, document, updated, resource_arn, revision = row
        out = {"policyName": name, "policyDocument": document, "lastUpdatedTime": updated}
        if resource_arn:
            out.update(policyScope="RESOURCE", resourceArn=resource_arn, revisionId=revision)
        else:
            out["policyScope"] = "ACCOUNT"
        return out

    _COLUMNS = "name, document, updated, resource_arn, revision"

    # -- operations --------------------------------------------------------------

    def PutResourcePolicy(self, ctx, params):
        name, text = params.get("policyName"), params.get("policyDocument")
        if name is None:
            raise _null("policyName")
        if text is None:
            raise _null("policyDocument")
        stored = normalized(parse_document(text))
        now = self._now_ms()
        out = {"policyName": name, "policyDocument": text, "lastUpdatedTime": now}
        with self.storage.tx():
            if params.get("resourceArn"):
                group = self._scoped_group(ctx, params["resourceArn"])
                current = self.storage.one(
                    "SELECT revision FROM logs_resource_policies WHERE account = ? AND region = ? "
                    "AND resource_arn = ?", (group.account, group.region, group.arn))
                if (current[0] if current else None) != params.get("expectedRevisionId"):
                    raise AwsError("OperationAbortedException", _CONFLICT)
                revision = ids.uuid4_hex()
                self.storage.execute("DELETE FROM logs_resource_policies WHERE account = ? AND region = ? "
                                     "AND resource_arn = ?", (group.account, group.region, group.arn))
                self.storage.execute(
                    "INSERT INTO logs_resource_policies (account, region, resource_arn, name, document, updated, "
                    "revision) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (group.account, group.region, group.arn, name, stored, now, revision))
                out.update(policyScope="RESOURCE", resourceArn=group.arn, revisionId=revision)
                self.forget_resource_policies()
                return {"resourcePolicy": out, "revisionId": revision}
            account, region = ctx.account_id, ctx.region
            exists = self.storage.one("SELECT 1 FROM logs_resource_policies WHERE account = ? AND region = ? "
                                      "AND resource_arn = '' AND name = ?", (account, region, name))
            if not exists and self.storage.scalar(
                    "SELECT COUNT(*) FROM logs_resource_policies WHERE account = ? AND region = ? "
                    "AND resource_arn = ''", (account, region)) >= MAX_ACCOUNT_POLICIES:
                raise AwsError("LimitExceededException", "Resource limit exceeded.")
            self.storage.execute(
                "INSERT INTO logs_resource_policies (account, region, resource_arn, name, document, updated) "
                "VALUES (?, ?, '', ?, ?, ?) ON CONFLICT (account, region, resource_arn, name) DO UPDATE SET "
                "document = excluded.document, updated = excluded.updated",
                (account, region, name, stored, now))
        self.forget_resource_policies()
        out["policyScope"] = "ACCOUNT"
        return {"resourcePolicy": out}

    def DescribeResourcePolicies(self, ctx, params):
        from cloudlet.services.logs.provider import _paged

        scope = params.get("policyScope")
        if params.get("resourceArn"):
            if scope == "ACCOUNT":
                raise _invalid("policyScope ACCOUNT cannot be used with a resourceArn.")
            group = self._scoped_group(ctx, params["resourceArn"])
            rows = self.storage.all(f"SELECT {self._COLUMNS} FROM logs_resource_policies WHERE account = ? "
                                    "AND region = ? AND resource_arn = ?", (group.account, group.region, group.arn))
        elif scope == "RESOURCE":
            rows = self.storage.all(f"SELECT {self._COLUMNS} FROM logs_resource_policies WHERE account = ? "
                                    "AND region = ? AND resource_arn != '' ORDER BY resource_arn",
                                    (ctx.account_id, ctx.region))
        else:
            rows = self.storage.all(f"SELECT {self._COLUMNS} FROM logs_resource_policies WHERE account = ? "
                                    "AND region = ? AND resource_arn = '' ORDER BY name",
                                    (ctx.account_id, ctx.region))
        return _paged([self._policy_out(r) for r in rows], params, "resourcePolicies")

    def DeleteResourcePolicy(self, ctx, params):
        name = params.get("policyName")
        with self.storage.tx():
            if params.get("resourceArn"):
                group = self._scoped_group(ctx, params["resourceArn"])
                row = self.storage.one("SELECT name, revision FROM logs_resource_policies WHERE account = ? "
                                       "AND region = ? AND resource_arn = ?", (group.account, group.region, group.arn))
                if row is None or (name is not None and row[0] != name):
                    raise _not_found(name if name is not None else group.arn)
                if params.get("expectedRevisionId") is None:
                    raise _null("expectedRevisionId")
                if params["expectedRevisionId"] != row[1]:
                    raise AwsError("OperationAbortedException", _CONFLICT)
                self.storage.execute("DELETE FROM logs_resource_policies WHERE account = ? AND region = ? "
                                     "AND resource_arn = ?", (group.account, group.region, group.arn))
            else:
                if name is None:
                    raise _null("policyName")
                cursor = self.storage.execute(
                    "DELETE FROM logs_resource_policies WHERE account = ? AND region = ? AND resource_arn = '' "
                    "AND name = ?", (ctx.account_id, ctx.region, name))
                if cursor.rowcount == 0:
                    raise _not_found(name)
        self.forget_resource_policies()
        return {}

    def drop_group_policy(self, group) -> None:
        """A deleted group's resource-scoped policy goes with it."""
        self.storage.execute("DELETE FROM logs_resource_policies WHERE account = ? AND region = ? "
                             "AND resource_arn = ?", (group.account, group.region, group.arn))
        self.forget_resource_policies()

    # -- authorization -----------------------------------------------------------

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        """(combined policy, owning account) for a service principal's
        CreateLogStream / PutLogEvents on a log group or stream; None for
        anyone else (AWS enforces Logs resource policies for AWS services
        only) and where no policy applies."""
        if operation not in GRANTABLE or ctx.principal.type != "AWSService":
            return None
        parts = resource.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "log-group":
            return None
        region, account, name = parts[3], parts[4], parts[6]
        cache = self._policy_cache()
        key = (account, region, name)
        found = cache.get(key, _MISSING)
        if found is _MISSING:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            found = cache[key] = self._combined(account, region, ":".join(parts[:7]))
        return (found, account) if found is not None else None

    def _combined(self, account: str, region: str, arn: str) -> str | None:
        rows = self.storage.all("SELECT document FROM logs_resource_policies WHERE account = ? AND region = ? "
                                "AND resource_arn IN ('', ?) ORDER BY resource_arn, name", (account, region, arn))
        statements = []
        for (text,) in rows:
            for s in _statements(json.loads(text)):
                s = {k: v for k, v in s.items() if k != "Sid"}
                if _enforceable(s):
                    statements.append(s)
        if not statements:
            return None
        return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))
