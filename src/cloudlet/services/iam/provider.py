"""AWS Identity and Access Management.

The operations live in mixins by subject (entities, policies, credentials,
account, simulation). This class also answers the gateway's questions about
identities: who owns an access key, and which policies apply to a
principal (`policies_for`), cached per IAM generation.
"""

from __future__ import annotations

from cloudlet.services.base import Service
from cloudlet.services.iam.account import AccountOps
from cloudlet.services.iam.certificates import CertificateOps
from cloudlet.services.iam.credentials import CredentialOps
from cloudlet.services.iam.entities import EntityOps
from cloudlet.services.iam.mfa import MfaOps
from cloudlet.services.iam.saml import SamlOps
from cloudlet.services.iam.servicecreds import ServiceCredentialOps
from cloudlet.services.iam.policies import PolicyOps
from cloudlet.services.iam.simulate import SimulateOps
from cloudlet.services.iam.store import MIGRATIONS

# Operations that change what IAM knows; each bumps the generation that
# cached policy sets are checked against.
_WRITE_PREFIXES = ("Create", "Update", "Delete", "Put", "Attach", "Detach", "Add", "Remove", "Tag", "Untag",
                   "Set", "Change", "Upload", "Enable", "Deactivate", "Reset")
GENERATION_KEY = "iam.generation"


class IamService(EntityOps, PolicyOps, CredentialOps, CertificateOps, MfaOps, SamlOps, ServiceCredentialOps,
                 AccountOps, SimulateOps, Service):
    model_name = "iam"
    migrations = MIGRATIONS

    def __init__(self, cloud):
        super().__init__(cloud)
        # Parsed policy sets by principal, valid for one IAM generation.
        self._policy_cache: dict = {}
        self._cache_generation: str | None = None

    def handler(self, operation: str):
        found = super().handler(operation)
        if found is None or not operation.startswith(_WRITE_PREFIXES) or operation.startswith("Generate"):
            return found
        fn, is_async = found

        def write(ctx, params, _fn=fn):
            out = _fn(ctx, params)
            self.bump_generation()
            return out

        wrapped = (write, is_async)
        self._handlers[operation] = wrapped
        return wrapped

    def bump_generation(self) -> None:
        current = int(self.storage.get_meta(GENERATION_KEY) or 0)
        self.storage.set_meta(GENERATION_KEY, str(current + 1))

    def generation(self) -> str:
        return self.storage.get_meta(GENERATION_KEY) or "0"

    def cached(self, key, build):
        """A value derived from IAM's tables, rebuilt when IAM changes."""
        gen = self.generation()
        if gen != self._cache_generation:
            self._policy_cache.clear()
            self._cache_generation = gen
        value = self._policy_cache.get(key)
        if value is None:
            value = self._policy_cache[key] = build()
        return value

    def reset(self) -> None:
        self._policy_cache.clear()
        self._cache_generation = None

    # -- what a call is, for authorization -------------------------------

    def _entity_arn(self, account: str, kind: str, name: str, path: str | None) -> str:
        table = {"user": "iam_users", "group": "iam_groups", "role": "iam_roles",
                 "instance-profile": "iam_instance_profiles"}[kind]
        arn = self.storage.scalar(f"SELECT arn FROM {table} WHERE account = ? AND name = ?", (account, name))
        return arn or f"arn:aws:iam::{account}:{kind}{path or '/'}{name}"

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        account = ctx.account_id
        path = params.get("Path")
        for param, kind in (("InstanceProfileName", "instance-profile"), ("GroupName", "group"),
                            ("UserName", "user"), ("RoleName", "role")):
            if params.get(param):
                return [self._entity_arn(account, kind, params[param], path)]
        if params.get("PolicyArn"):
            return [params["PolicyArn"]]
        if operation == "CreatePolicy":
            return [f"arn:aws:iam::{account}:policy{path or '/'}{params['PolicyName']}"]
        if params.get("OpenIDConnectProviderArn"):
            return [params["OpenIDConnectProviderArn"]]
        if params.get("PolicySourceArn"):
            return [params["PolicySourceArn"]]
        listing = {"ListUsers": "user", "ListGroups": "group", "ListRoles": "role", "ListPolicies": "policy",
                   "ListInstanceProfiles": "instance-profile"}.get(operation)
        if listing:
            return [f"arn:aws:iam::{account}:{listing}{params.get('PathPrefix') or '/'}"]
        if operation in ("CreateAccessKey", "ListAccessKeys", "GetUser") and ctx.principal.type == "IAMUser":
            return [ctx.principal.arn]
        return ["*"]

    def authz_context(self, ctx, operation: str, params: dict) -> dict:
        out = {}
        if params.get("PolicyArn") and operation.startswith(("Attach", "Detach")):
            out["iam:PolicyARN"] = params["PolicyArn"]
        boundary = params.get("PermissionsBoundary")
        if boundary:
            out["iam:PermissionsBoundary"] = boundary
        return out
