"""Authorization on every request: which IAM action and resource a call
is, which policies apply, and the engine's decision.

What a call is comes from the model by default (action `<prefix>:<Operation>`,
resource `*`); a service refines it with hooks on its provider:

- `authz_action(operation) -> str`          when the action is not the name
                                            ("" for calls AWS never authorizes)
- `authz_action_params(ctx, operation, params)` the same, when the request
                                            decides it (S3: a VersionId)
- `authz_denial(ctx, action, resource, decision) -> AwsError`
                                            the service's own AccessDenied
- `authz_resources(ctx, operation, params)` the ARNs the call acts on
- `authz_context(ctx, operation, params)`   service condition keys
- `resource_policy(ctx, operation, resource, params) -> (document, account[, kind])`
                                            its resource-based policy

Modes: "enforce" denies, "soft" allows and logs what would be denied,
"off" does not evaluate.
"""

from __future__ import annotations

import logging
import re

from cloudlet.errors import AwsError
from cloudlet.protocol.common import iso8601

log = logging.getLogger("cloudlet.iam")

# IAM action prefixes that differ from the service's signing name.
_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}


def action_prefix(model) -> str:
    name = model.signing_name
    return _PREFIX.get(name, name)


class Authorizer:
    def __init__(self, cloud, mode: str = "enforce"):
        if mode not in ("enforce", "soft", "off"):
            raise ValueError(f"unknown IAM mode {mode!r}")
        self.cloud = cloud
        self.mode = mode
        # Parsed policy documents by (kind, text): a document means the same
        # whatever else IAM holds, so these never go stale.
        self._documents: dict = {}
        # Decisions for service principals (SNS delivering to a queue), by
        # everything they depend on; see _service_decision.
        self._service_decisions: dict = {}
        # The root user's decisions against context-free resource policies.
        self._root_decisions: dict = {}

    def check(self, ctx, service, op, params: dict) -> None:
        if self.mode == "off" or op.auth_type == "none":
            return
        principal = ctx.principal
        prepare = getattr(service, "authz_prepare", None)
        if prepare is not None:
            prepare(ctx, op.name, params)  # what the request proves before policies are read (STS's MFA code)
        hook = getattr(service, "authz_action_params", None)
        if hook is not None:
            action = hook(ctx, op.name, params)  # the action may depend on the request (S3's VersionId)
        else:
            hook = getattr(service, "authz_action", None)
            action = hook(op.name) if hook else None
        if action == "":
            return  # an operation AWS never authorizes (sts:GetCallerIdentity)
        if action is None:
            action = f"{action_prefix(op.service)}:{op.name}"
        hook = getattr(service, "authz_resources", None)
        resources = hook(ctx, op.name, params) if hook else ["*"]
        policy_hook = getattr(service, "resource_policy", None)
        for resource in resources:
            resource_policy = policy_hook(ctx, op.name, resource, params) if policy_hook else None
            # CloudTrail records a call on another account's resource in both
            # accounts (sharedEventID): the owner is the resource policy's
            # account, or the ARN's.
            owner = resource_policy[1] if resource_policy is not None else _arn_account(resource)
            if owner and owner != principal.account_id:
                ctx.extra["resource_owner"] = owner
            if principal.type == "AWSService" and resource_policy is not None:
                # A service has no identity policies: the resource's policy
                # must grant it (an SQS queue policy allowing sns.amazonaws.com).
                resource_policy = (*resource_policy[:2], "service")
            if principal.is_root and resource_policy is None and _same_account(resource, principal.account_id):
                continue  # the root user may do anything in its own account
            if principal.type == "AWSService":
                decision = self._service_decision(ctx, service, op, params, action, resource, resource_policy)
            elif principal.is_root and resource_policy is not None:
                decision = self._root_decision(ctx, service, op, params, action, resource, resource_policy)
            else:
                decision = self.decide(ctx, service, op, params, action, resource, resource_policy)
            if not decision.allowed and decision.decision != EXPLICIT_DENY:
                grant = getattr(service, "authz_grant", None)
                if grant is not None and grant(ctx, op.name, params, resource):
                    continue  # a KMS grant allows what the policies left undecided
            if not decision.allowed:
                if self.mode == "soft":
                    self.log_soft(resource, action, decision, principal.arn,
                                  self.encoded(ctx, action, resource, decision, params))
                    continue
                hook = getattr(service, "authz_denial", None)
                if hook is not None:
                    raise hook(ctx, action, resource, decision)
                raise self.denied(op.service, principal.arn, action, resource, decision, own=True)

    def require(self, ctx, service, op, params: dict, action: str, resource: str, resource_policy,
                grant=None) -> None:
        """Authorize one more action a call implies (sts:TagSession when
        AssumeRole passes tags), as `check` does the call's own. `grant`:
        a callable that may allow what the policies left undecided."""
        if self.mode == "off":
            return
        decision = self.decide(ctx, service, op, params, action, resource, resource_policy)
        if not decision.allowed and decision.decision != EXPLICIT_DENY and grant is not None and grant():
            return
        if not decision.allowed:
            if self.mode == "soft":
                self.log_soft(resource, action, decision, ctx.principal.arn)
                return
            hook = getattr(service, "authz_denial", None)
            if hook is not None:
                raise hook(ctx, action, resource, decision)
            raise self.denied(op.service, ctx.principal.arn, action, resource, decision)

    # -- the decision ----------------------------------------------------

    def document(self, kind: str, text: str):
        key = (kind, text)
        found = self._documents.get(key)
        if found is None:
            from cloudlet.iam import parse_policy

            if len(self._documents) >= 4096:
                self._documents.clear()
            source = "session-policy" if kind == "session" else kind
            found = self._documents[key] = parse_policy(text, kind, source=source)
        return found

    def _service_decision(self, ctx, service, op, params, action: str, resource: str, resource_policy):
        """A service principal has no identity policies, so its decision
        depends only on the resource policy and the request context; that
        context is the same from call to call (what the service acts for)
        unless the policy reads the time, so decisions are memoized. Not
        for a target whose calls bring condition keys of their own
        (`authz_context`: KMS's kms:EncryptionContext:*, when SQS asks for
        a data key for SNS's delivery): those are decided each time."""
        if getattr(service, "authz_context", None) is not None:
            return self.decide(ctx, service, op, params, action, resource, resource_policy)
        document = resource_policy[0] if resource_policy else None
        extra = ctx.extra
        key = (ctx.principal.name, action, resource, document, ctx.region, ctx.account_id,
               extra.get("aws:SourceArn"), extra.get("aws:SourceAccount"), ctx.invoked_by)
        found = self._service_decisions.get(key)
        if found is None:
            found = self.decide(ctx, service, op, params, action, resource, resource_policy)
            if document is None or not _READS_TIME.search(document):
                if len(self._service_decisions) >= 4096:
                    self._service_decisions.clear()
                self._service_decisions[key] = found
        return found

    def _root_decision(self, ctx, service, op, params, action: str, resource: str, resource_policy):
        """The root user has no identity policies: against a resource
        policy that reads no context (no conditions, no variables, as in a
        default key policy) the decision depends only on who, what and
        which policy, so it is memoized."""
        text, account = resource_policy[0], resource_policy[1]
        kind = resource_policy[2] if len(resource_policy) > 2 else "resource"
        key = (ctx.principal.arn, action, resource, account, kind, text)
        found = self._root_decisions.get(key)
        if found is None:
            found = self.decide(ctx, service, op, params, action, resource, resource_policy)
            if len(self._root_decisions) >= 4096:
                self._root_decisions.clear()
            if not self.document("resource" if kind == "service" else kind, text).context_keys():
                self._root_decisions[key] = found
            else:
                self._root_decisions[key] = False  # reads the context: decide each time
        elif found is False:
            found = self.decide(ctx, service, op, params, action, resource, resource_policy)
        return found

    def decide(self, ctx, service, op, params, action: str, resource: str, resource_policy):
        from cloudlet.iam import AuthzRequest, PolicySet, evaluate

        principal = ctx.principal
        info, identity, boundary, session = self.principal_policies(principal)
        context = self.context(ctx, params)
        hook = getattr(service, "authz_context", None)
        if hook:
            context.update(hook(ctx, op.name, params))
        policy_set = PolicySet(identity=identity, boundary=boundary, session=session)
        if resource_policy is not None:
            # (document, owning account[, kind]): kind "trust" for a role's
            # trust policy, which must allow even callers of its own account.
            document, account, *rest = resource_policy
            kind = rest[0] if rest else "resource"
            # None lets the engine apply its own rule (a KMS key policy
            # must allow even within the account).
            must_allow = True if kind in ("trust", "service") else None
            kind = "resource" if kind == "service" else kind
            policy_set.resource = self.document(kind, document)
            policy_set.resource_account = account
            policy_set.resource_must_allow = must_allow
        elif principal.type == "AWSService":
            policy_set.resource_must_allow = True  # no resource policy: nothing grants the service
        elif not _same_account(resource, principal.account_id):
            policy_set.resource_account = _arn_account(resource)
        request = AuthzRequest(principal=info, action=action, resource=resource, context=context)
        return evaluate(request, policy_set, self.cloud.clock.now())

    def principal_policies(self, principal):
        """(PrincipalInfo, identity policies, boundary, session policies)."""
        from cloudlet.iam import PrincipalInfo

        iam = self.cloud.service("iam")
        attrs = principal.attributes
        tags: dict = {}
        identity: list = []
        boundary = None
        session = None
        role_arn = None
        username = None
        if principal.type == "IAMUser" and principal.name:
            identity, _, boundary = iam.user_policies(principal.account_id, principal.name)
            tags = {t["Key"]: t["Value"] for t in iam._tags(principal.account_id, "user", principal.name)}
            username = principal.name
        elif principal.type == "AssumedRole":
            role_arn = attrs.get("role_arn")
            role_name = attrs.get("role_name")
            identity, _, boundary = iam.role_policies(principal.account_id, role_name)
            tags = {t["Key"]: t["Value"] for t in iam._tags(principal.account_id, "role", role_name)}
            tags.update(attrs.get("tags") or {})
        elif principal.type == "FederatedUser":
            parent = attrs.get("parent_user")
            if parent:
                identity, _, boundary = iam.user_policies(principal.account_id, parent)
            tags = dict(attrs.get("tags") or {})
        if principal.type in ("AssumedRole", "FederatedUser"):
            documents = attrs.get("session_policies") or []
            if documents or principal.type == "FederatedUser":
                # A federated user's permissions are what its session policies
                # allow of its user's: none without one.
                session = [self.document("session", d) for d in documents]
        service = principal.name if principal.type == "AWSService" else None
        info = PrincipalInfo(arn=principal.arn, account=principal.account_id, type=principal.type,
                             user_id=principal.user_id, username=username, tags=tags, role_arn=role_arn,
                             service=service)
        return info, identity, boundary, session

    def context(self, ctx, params: dict) -> dict:
        principal = ctx.principal
        attrs = principal.attributes
        context = {
            "aws:SourceIp": ctx.source_ip,
            "aws:SecureTransport": False,
            "aws:RequestedRegion": ctx.region,
            "aws:ViaAWSService": ctx.invoked_by is not None,
        }
        if ctx.invoked_by:
            context["aws:CalledVia"] = [ctx.invoked_by]
        if principal.type == "AWSService":
            # What a service principal acts for (SNS: the topic it delivers from).
            for key in ("aws:SourceArn", "aws:SourceAccount", "aws:SourceOwner"):
                if key in ctx.extra:
                    context[key] = ctx.extra[key]
        if principal.session_token:
            context["aws:MultiFactorAuthPresent"] = bool(attrs.get("mfa"))
            if attrs.get("issued"):
                context["aws:TokenIssueTime"] = iso8601(int(attrs["issued"]))
                if attrs.get("mfa"):
                    # (the session was made with the code: its age is the session's)
                    context["aws:MultiFactorAuthAge"] = max(0, int(self.cloud.clock.now()) - int(attrs["issued"]))
        elif ctx.extra.get("mfa_verified"):
            # AssumeRole / GetSessionToken with a good MFA code (STS checked it).
            context["aws:MultiFactorAuthPresent"] = True
            context["aws:MultiFactorAuthAge"] = 0
        if attrs.get("source_identity"):
            context["aws:SourceIdentity"] = attrs["source_identity"]
        # Keys one more check of the call brings (iam:PassedToService for iam:PassRole).
        context.update(ctx.extra.get("condition_keys") or {})
        tags = params.get("Tags")
        if isinstance(tags, list) and tags and isinstance(tags[0], dict):
            keys = []
            for tag in tags:
                key = tag.get("Key")
                if key is not None:
                    context[f"aws:RequestTag/{key}"] = tag.get("Value", "")
                    keys.append(key)
            context["aws:TagKeys"] = keys
        elif isinstance(tags, dict) and tags:
            for key, value in tags.items():
                context[f"aws:RequestTag/{key}"] = value
            context["aws:TagKeys"] = list(tags)
        return context

    # -- answers ---------------------------------------------------------

    @staticmethod
    def denied(model, principal_arn: str, action: str, resource: str, decision, own: bool = False) -> AwsError:
        """`own`: the denial of the call's own action (KMS names resource
        "*" there, not for an action the call implies)."""
        outside = (_DENIAL_OUTSIDE_MODEL.get(model.endpoint_prefix) or _DENIAL_BY_SERVICE.get(model.name)
                   if model is not None else None)
        where = f" on resource: {resource}" if resource != "*" or (own and outside and outside[2]) else ""
        message = f"User: {principal_arn} is not authorized to perform: {action}{where} {decision.reason(action)}"
        code = "AccessDenied"
        if outside is not None:
            # Services whose denial the model does not declare answer with
            # what AWS sends (KMS: 400 AccessDeniedException).
            return AwsError(outside[0], message, outside[1])
        if model is not None:
            if model.error_shape("AuthorizationError") is not None:
                code = "AuthorizationError"
            elif model.protocol != "query" and model.error_shape("AccessDeniedException") is not None:
                code = "AccessDeniedException"
        return AwsError(code, message, 403)

    def encoded(self, ctx, action: str, resource: str, decision, params: dict) -> str:
        """The denial as an encoded authorization message (readable with
        sts:DecodeAuthorizationMessage)."""
        from cloudlet.gateway import authzmessage

        document = authzmessage.describe(ctx.principal, action, resource, decision, self.context(ctx, params))
        return authzmessage.encode(self.cloud.storage, document)

    @staticmethod
    def log_soft(resource: str, action: str, decision, principal_arn: str = "", encoded: str = "") -> None:
        log.warning("IAM (soft mode) would deny %s %s on %s: %s%s", principal_arn, action, resource,
                    decision.reason(action), f" Encoded authorization failure message: {encoded}" if encoded else "")


# endpoint prefix -> (code, status, whether the call's own denial names "*")
_DENIAL_OUTSIDE_MODEL = {"kms": ("AccessDeniedException", 400, True)}
# REST/JSON services whose model declares no denial (by service name: SES v1
# and v2 share an endpoint prefix but not their answer).
_DENIAL_BY_SERVICE = {"lambda": ("AccessDeniedException", 403, False),
                      "scheduler": ("AccessDeniedException", 403, False),
                      "sesv2": ("AccessDeniedException", 403, False)}
EXPLICIT_DENY = "explicitDeny"  # cloudlet.iam.evaluate's, without importing the engine at start-up
# Condition keys and operators that make a decision depend on the time.
_READS_TIME = re.compile(r"(?i)currenttime|epochtime|tokenissuetime|date")


def _arn_account(arn: str) -> str | None:
    """The account in an ARN; None for ARNs of no account (S3 buckets) and
    AWS-owned ones (arn:aws:iam::aws:policy/...)."""
    parts = arn.split(":", 5)
    if len(parts) >= 5 and parts[0] == "arn" and parts[4] and parts[4] != "aws":
        return parts[4]
    return None


def _same_account(resource: str, account: str) -> bool:
    other = _arn_account(resource)
    return other is None or other == account
