"""SimulateCustomPolicy and SimulatePrincipalPolicy, on the same engine the
gateway enforces with, so a simulation and a real call always agree."""

from __future__ import annotations

from cloudlet.errors import AwsError
from cloudlet.services.iam.util import invalid_input, paginate

_LIST_TYPES = ("stringList", "numericList", "booleanList", "dateList", "ipList", "binaryList")


def context_from_entries(entries: list[dict] | None) -> dict:
    context: dict = {}
    for entry in entries or ():
        values = entry.get("ContextKeyValues") or []
        kind = entry.get("ContextKeyType", "string")
        if kind in _LIST_TYPES:
            context[entry["ContextKeyName"]] = list(values)
        elif values:
            context[entry["ContextKeyName"]] = values[0]
    return context


class SimulateOps:
    """Mixin of IamService."""

    def _parse_inputs(self, documents: list[str] | None, kind: str, label: str):
        from cloudlet.iam import PolicyError, parse_policy

        policies = []
        for i, doc in enumerate(documents or (), 1):
            try:
                policies.append(parse_policy(doc, kind, source=f"{label}.{i}"))
            except PolicyError as exc:
                raise AwsError("MalformedPolicyDocument", exc.message) from None
        return policies

    def _simulate(self, ctx, params, principal, identity, source_types: dict) -> dict:
        from cloudlet.iam import AuthzRequest, PolicySet, evaluate

        boundaries = self._parse_inputs(params.get("PermissionsBoundaryPolicyInputList"), "boundary",
                                        "PermissionsBoundaryPolicyInputList")
        resource_policy = None
        if params.get("ResourcePolicy"):
            resource_policy = self._parse_inputs([params["ResourcePolicy"]], "resource", "ResourcePolicy")[0]
        resource_owner = params.get("ResourceOwner")
        if resource_owner and resource_owner.isdigit():
            resource_owner_account = resource_owner
        elif resource_owner:
            resource_owner_account = resource_owner.split(":")[4]
        else:
            resource_owner_account = principal.account
        context = context_from_entries(params.get("ContextEntries"))
        resources = params.get("ResourceArns") or ["*"]
        results = []
        now = self.clock.now()
        for action in params["ActionNames"]:
            for resource in resources:
                request = AuthzRequest(principal=principal, action=action, resource=resource, context=dict(context))
                policy_set = PolicySet(identity=identity, resource=resource_policy,
                                       resource_account=resource_owner_account,
                                       boundary=boundaries[0] if boundaries else None)
                decision = evaluate(request, policy_set, now)
                matched = [{
                    "SourcePolicyId": m.source,
                    "SourcePolicyType": source_types.get(m.source, "none"),
                    "StartPosition": {"Line": m.start[0], "Column": m.start[1]},
                    "EndPosition": {"Line": m.end[0], "Column": m.end[1]},
                } for m in decision.matched]
                result = {"EvalActionName": action, "EvalResourceName": resource,
                          "EvalDecision": decision.decision, "MatchedStatements": matched,
                          "MissingContextValues": sorted(set(decision.missing_context)),
                          "EvalDecisionDetails": {}}
                if boundaries:
                    result["PermissionsBoundaryDecisionDetail"] = {
                        "AllowedByPermissionsBoundary": decision.deciding_kind != "boundary"}
                if resource_policy is not None:
                    result["EvalDecisionDetails"] = {"IAM Policy": decision.decision}
                results.append(result)
        _, out = paginate(results, params, "EvaluationResults")
        return out

    def SimulateCustomPolicy(self, ctx, params):
        from cloudlet.iam import PrincipalInfo

        identity = self._parse_inputs(params["PolicyInputList"], "identity", "PolicyInputList")
        caller = params.get("CallerArn")
        if caller:
            account = caller.split(":")[4]
            principal = PrincipalInfo(arn=caller, account=account, type="IAMUser",
                                      username=caller.rsplit("/", 1)[-1])
        else:
            account = ctx.account_id
            principal = PrincipalInfo(arn=f"arn:aws:iam::{account}:user/simulated", account=account, type="IAMUser",
                                      username="simulated")
        types = {p.source: "IAM Policy" for p in identity}
        return self._simulate(ctx, params, principal, identity, types)

    def SimulatePrincipalPolicy(self, ctx, params):
        from cloudlet.iam import PrincipalInfo

        source = params["PolicySourceArn"]
        parts = source.split(":")
        if len(parts) < 6 or parts[2] != "iam":
            raise invalid_input(f"Invalid ARN {source}")
        account = parts[4]
        resource = parts[5]
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        if kind == "user":
            row = self._user_row(account, name)
            principal = PrincipalInfo(arn=row[3], account=account, type="IAMUser", user_id=row[1], username=row[0],
                                      tags={t["Key"]: t["Value"] for t in self._tags(account, "user", row[0])})
            identity, types, boundary = self.user_policies(account, row[0])
        elif kind == "role":
            row = self._role_row(account, name)
            principal = PrincipalInfo(arn=row[3], account=account, type="AssumedRole", user_id=row[1],
                                      role_arn=row[3],
                                      tags={t["Key"]: t["Value"] for t in self._tags(account, "role", row[0])})
            identity, types, boundary = self.role_policies(account, row[0])
        elif kind == "group":
            row = self._group_row(account, name)
            principal = PrincipalInfo(arn=row[3], account=account, type="IAMUser", user_id=row[1])
            identity, types = self.group_policies(account, row[0])
            boundary = None
        else:
            raise invalid_input(f"Invalid ARN {source}")
        extra = self._parse_inputs(params.get("PolicyInputList"), "identity", "PolicyInputList")
        types.update({p.source: "IAM Policy" for p in extra})
        if boundary is not None and not params.get("PermissionsBoundaryPolicyInputList"):
            params = dict(params, PermissionsBoundaryPolicyInputList=[boundary.text])
        caller = params.get("CallerArn")
        if caller and kind != "user":
            principal.arn = caller
        return self._simulate(ctx, params, principal, list(identity) + extra, types)

    # -- the policies that apply to a principal -------------------------

    def _parsed(self, source: str, document: str, kind: str = "identity"):
        from cloudlet.iam import parse_policy

        return self.cached(("doc", source, document), lambda: parse_policy(document, kind, source=source))

    def _entity_policies(self, account: str, kind: str, entity: str):
        policies, types = [], {}
        for name, doc in self.storage.all("SELECT name, document FROM iam_inline_policies WHERE account = ? AND kind = ? "
                                          "AND entity = ? ORDER BY name", (account, kind, entity)):
            p = self._parsed(name, doc)
            policies.append(p)
            types[name] = kind
        for (arn,) in self.storage.all("SELECT policy_arn FROM iam_attachments WHERE account = ? AND kind = ? "
                                       "AND entity = ? ORDER BY policy_arn", (account, kind, entity)):
            doc = self.policy_document(arn)
            if doc is None:
                continue
            name = arn.rsplit("/", 1)[-1]
            policies.append(self._parsed(name, doc))
            types[name] = "aws-managed" if arn.startswith("arn:aws:iam::aws:") else "user-managed"
        return policies, types

    def _boundary(self, table: str, account: str, name: str):
        arn = self.storage.scalar(f"SELECT boundary FROM {table} WHERE account = ? AND name = ?", (account, name))
        document = self.policy_document(arn) if arn else None
        return self._parsed(arn.rsplit("/", 1)[-1], document, "boundary") if document is not None else None

    def group_policies(self, account: str, group: str):
        return self._entity_policies(account, "group", group)

    def user_policies(self, account: str, user: str):
        """(identity policies, source types, boundary) of an IAM user,
        including its groups' policies."""
        def build():
            policies, types = self._entity_policies(account, "user", user)
            for (group,) in self.storage.all("SELECT group_name FROM iam_group_members WHERE account = ? "
                                             "AND user_name = ? ORDER BY group_name", (account, user)):
                gp, gt = self._entity_policies(account, "group", group)
                policies += gp
                types.update(gt)
            return policies, types, self._boundary("iam_users", account, user)
        policies, types, boundary = self.cached(("user", account, user.lower()), build)
        return list(policies), dict(types), boundary

    def role_policies(self, account: str, role: str):
        def build():
            policies, types = self._entity_policies(account, "role", role)
            return policies, types, self._boundary("iam_roles", account, role)
        policies, types, boundary = self.cached(("role", account, role.lower()), build)
        return list(policies), dict(types), boundary
    # -- context keys ----------------------------------------------------

    def GetContextKeysForCustomPolicy(self, ctx, params):
        keys: dict[str, None] = {}
        for policy in self._parse_inputs(params["PolicyInputList"], "identity", "PolicyInputList"):
            keys.update(dict.fromkeys(policy.context_keys()))
        return {"ContextKeyNames": list(keys)}

    def GetContextKeysForPrincipalPolicy(self, ctx, params):
        source = params["PolicySourceArn"]
        parts = source.split(":")
        if len(parts) < 6 or parts[2] != "iam":
            raise invalid_input(f"Invalid ARN {source}")
        account, resource = parts[4], parts[5]
        kind, _, rest = resource.partition("/")
        name = rest.rsplit("/", 1)[-1]
        if kind == "user":
            policies, _, _ = self.user_policies(account, self._user_row(account, name)[0])
        elif kind == "role":
            policies, _, _ = self.role_policies(account, self._role_row(account, name)[0])
        elif kind == "group":
            policies, _ = self.group_policies(account, self._group_row(account, name)[0])
        else:
            raise invalid_input(f"Invalid ARN {source}")
        policies = list(policies) + self._parse_inputs(params.get("PolicyInputList"), "identity", "PolicyInputList")
        keys: dict[str, None] = {}
        for policy in policies:
            keys.update(dict.fromkeys(policy.context_keys()))
        return {"ContextKeyNames": list(keys)}
