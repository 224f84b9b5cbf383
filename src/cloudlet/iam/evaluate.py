"""Policy evaluation: would AWS allow this request?

The rules are those of the IAM User Guide's "Policy evaluation logic",
"Cross-account policy evaluation logic", "Permissions boundaries" and
"Session policies":

1. An explicit Deny in any applicable policy (SCP, resource-based,
   identity-based, boundary, session) decides: explicitDeny.
2. SCPs must allow (they bind the principals of their account, root
   included, but not AWS services).
3. Same account: an Allow in the resource-based policy that names the
   caller itself (user ARN, role-session ARN, federated-user ARN, "*", a
   service) is enough. One that names the caller's role ARN is still capped
   by the boundary and session policies. One that names only the account
   delegates to the account's identity-based policies.
4. Otherwise the identity-based policies must allow, and the boundary (if
   any) and the session policies (if any) must allow too. A federated-user
   session without session policies has no identity-based permissions.
5. Across accounts both sides must allow: the caller's identity-based
   policies (capped as above) and the resource-based policy.
6. The root user of an account is not subject to identity-based policies;
   within its own account it may do anything not explicitly denied, except
   where the resource-based policy must allow.
8. A role's trust policy and a KMS key's policy must allow even callers of
   their own account (with an Allow naming the account, the identity-based
   policies must allow as well). The engine assumes so for a "trust" policy
   and for sts:AssumeRole* and kms:* actions; `PolicySet.resource_must_allow`
   overrides.
7. AWS services, anonymous callers and web-identity or SAML callers
   (types "AWSService", "Anonymous", "WebIdentityUser", "SAMLUser") have no
   identity-based policies; only a resource-based policy (for the last two,
   a role trust policy naming their provider as Federated) can allow them.

The context keys that describe the caller (aws:PrincipalArn, aws:username,
aws:PrincipalTag/..., aws:CurrentTime, ...) are derived from the request on
first use, so a policy without conditions costs nothing for them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cloudlet.iam.conditions import scalar_text
from cloudlet.iam.matching import Wildcards
from cloudlet.iam.policy import Policy, Statement
from cloudlet.iam.variables import resolve

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitDeny", "implicitDeny"

# How a resource-based policy's Principal names the caller.
_ACCOUNT, _ROLE, _DIRECT = 1, 2, 3

# Principal types that have identity-based policies (or are root).
_IAM_TYPES = frozenset(("Root", "IAMUser", "AssumedRole", "FederatedUser"))

_PRINCIPAL_TYPE = {"Root": "Account", "IAMUser": "User", "AssumedRole": "AssumedRole",
                   "FederatedUser": "FederatedUser", "Anonymous": "Anonymous"}

# The enhanced AccessDenied message tails ("Troubleshoot access denied error
# messages"). AWS's own text says "a sessions policy" for an explicit deny.
_EXPLICIT = {"identity": "an identity-based policy", "resource": "a resource-based policy",
             "boundary": "a permissions boundary", "session": "a sessions policy",
             "scp": "a service control policy"}
_IMPLICIT = {"identity": "identity-based policy", "resource": "resource-based policy",
             "boundary": "permissions boundary", "session": "session policy",
             "scp": "service control policy"}


@dataclass
class PrincipalInfo:
    arn: str
    account: str
    # "Root" | "IAMUser" | "AssumedRole" | "FederatedUser" | "AWSService" | "Anonymous"
    # (| "WebIdentityUser" | "SAMLUser": arn is the identity provider's)
    type: str
    user_id: str = ""
    username: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    role_arn: str | None = None
    service: str | None = None


@dataclass
class AuthzRequest:
    principal: PrincipalInfo
    action: str
    resource: str
    context: dict = field(default_factory=dict)


@dataclass
class PolicySet:
    identity: list[Policy] = field(default_factory=list)
    resource: Policy | None = None
    resource_account: str | None = None
    boundary: Policy | None = None
    session: list[Policy] | None = None
    scps: list[Policy] | None = None
    # The resource-based policy must allow even its own account's callers:
    # role trust policies and KMS key policies. None: decided from the policy
    # and the action (a "trust" policy, sts:AssumeRole*, kms:*).
    resource_must_allow: bool | None = None


@dataclass
class MatchedStatement:
    source: str
    kind: str
    sid: str | None
    effect: str
    start: tuple[int, int]
    end: tuple[int, int]


@dataclass
class Decision:
    allowed: bool
    decision: str
    deciding_kind: str | None
    matched: list[MatchedStatement]
    missing_context: list[str]
    trust: bool = field(default=False, repr=False)  # the resource policy is a role trust policy

    def reason(self, action: str) -> str:
        """The tail of AWS's AccessDenied message, e.g. "because no
        identity-based policy allows the sqs:SendMessage action"; "" when
        allowed."""
        kind = self.deciding_kind
        if self.allowed or kind is None:
            return ""
        if self.decision == EXPLICIT_DENY:
            where = "the role trust policy" if kind == "resource" and self.trust else _EXPLICIT[kind]
            return f"with an explicit deny in {where}"
        what = "role trust policy" if kind == "resource" and self.trust else _IMPLICIT[kind]
        return f"because no {what} allows the {action} action"


# -- the request context --------------------------------------------------------------

def _values(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        return [scalar_text(v) for v in value]
    return [scalar_text(value)]


class _Context:
    """Condition keys of one request, looked up case-insensitively; called
    as `ctx(key_lower) -> list of values | None`."""

    __slots__ = ("request", "now", "given", "cache", "tags")

    def __init__(self, request: AuthzRequest, now: float):
        self.request, self.now = request, now
        self.given = None
        self.cache: dict[str, list[str] | None] = {}
        self.tags = None

    def __call__(self, key: str) -> list[str] | None:
        cache = self.cache
        if key in cache:
            return cache[key]
        given = self.given
        if given is None:
            given = self.given = {k.lower(): v for k, v in self.request.context.items()}
        value = _values(given[key]) if key in given else self._derived(key)
        cache[key] = value
        return value

    def _derived(self, key: str) -> list[str] | None:
        p = self.request.principal
        t = p.type
        if key.startswith("aws:principaltag/"):
            tags = self.tags
            if tags is None:
                tags = self.tags = {k.lower(): v for k, v in p.tags.items()}
            v = tags.get(key[len("aws:principaltag/"):])
            return None if v is None else [v]
        if key == "aws:currenttime":
            return [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now))]
        if key == "aws:epochtime":
            return [str(int(self.now))]
        if key == "aws:principalisawsservice":
            return ["true" if t == "AWSService" else "false"]
        if t not in _IAM_TYPES:
            if t == "AWSService":
                return [p.service] if key == "aws:principalservicename" and p.service else None
            if t == "Anonymous":
                return ["anonymous"] if key == "aws:userid" else (["Anonymous"] if key == "aws:principaltype" else None)
            return None
        if key == "aws:principalarn":
            # A role session is known by its role's ARN here.
            return [p.role_arn or p.arn] if t == "AssumedRole" else [p.arn]
        if key == "aws:principalaccount":
            return [p.account] if p.account else None
        if key == "aws:principaltype":
            return [_PRINCIPAL_TYPE[t]] if t in _PRINCIPAL_TYPE else None
        if key == "aws:userid":
            uid = p.user_id or (p.account if t == "Root" else "")
            return [uid] if uid else None
        if key == "aws:username":
            if t != "IAMUser":
                return None
            return [p.username or p.arn.rsplit("/", 1)[-1]]
        return None


# -- matching one statement ----------------------------------------------------------

def _resource_hit(resources, resource: str, ctx: _Context) -> bool:
    if resources.static.match(resource):
        return True
    for template in resources.dynamic:
        resolved = resolve(template, ctx)
        if resolved is None:
            continue  # an unresolvable variable matches nothing
        cache = resources.cache
        w = cache.get(resolved)
        if w is None:
            if len(cache) > 256:
                cache.clear()
            w = cache[resolved] = Wildcards([resolved])
        if w.match(resource):
            return True
    return False


def _granted(ps, p: PrincipalInfo) -> int | None:
    """How a Principal element names the caller, or None."""
    if ps.any:
        return _DIRECT
    t = p.type
    if t not in _IAM_TYPES:
        if t == "AWSService":
            return _DIRECT if p.service and p.service.lower() in ps.services else None
        # A web-identity or SAML caller is named by its provider.
        return _DIRECT if t != "Anonymous" and (p.arn in ps.federated or p.arn in ps.arns) else None
    if p.arn in ps.arns or p.arn in ps.federated or (p.user_id and p.user_id in ps.canonical):
        return _DIRECT
    if t == "AssumedRole" and p.role_arn in ps.roles:
        return _ROLE
    if p.account in ps.accounts:
        return _DIRECT if t == "Root" else _ACCOUNT
    return None


def _exempt(ps, p: PrincipalInfo) -> bool:
    """NotPrincipal spares a caller only if every identity it acts as is
    listed: a role session needs its session ARN, its role ARN and its
    account; a user its ARN and its account."""
    if ps.any:
        return True
    t = p.type
    if t not in _IAM_TYPES:
        if t == "AWSService":
            return bool(p.service) and p.service.lower() in ps.services
        return t != "Anonymous" and (p.arn in ps.federated or p.arn in ps.arns)
    in_account = p.account in ps.accounts
    if t == "Root":
        return in_account
    if t == "AssumedRole" and p.role_arn and p.role_arn not in ps.arns:
        return False
    return in_account and (p.arn in ps.arns or p.arn in ps.federated)


def _applies(st: Statement, action: str, resource: str, ctx: _Context, p: PrincipalInfo,
             missing: dict) -> int | None:
    """How the statement applies to the request (a _DIRECT/_ROLE/_ACCOUNT
    grade, _DIRECT where no Principal is involved), or None."""
    a = st.actions
    if a is not None:
        hit = a.any or action in a.exact or (a.regex is not None and a.regex(action) is not None)
        if hit == st.not_action:
            return None
    r = st.resources
    if r is not None and _resource_hit(r, resource, ctx) == st.not_resource:
        return None
    how = _DIRECT
    ps = st.principals
    if ps is not None:
        if st.not_principal:
            if _exempt(ps, p):
                return None
        else:
            how = _granted(ps, p)
            if how is None:
                return None
    conditions = st.conditions
    if conditions:
        for test in conditions:
            if ctx(test.key_l) is None:
                missing[test.key] = None
        for test in conditions:
            if not test.holds(ctx):
                return None
    return how


class _Outcome:
    """The statements of one policy type that apply to the request."""

    __slots__ = ("kind", "allows", "denies")

    def __init__(self, kind: str):
        self.kind = kind
        self.allows: list[tuple[Policy, Statement, int]] = []
        self.denies: list[tuple[Policy, Statement, int]] = []


def _run(kind: str, policies, action: str, resource: str, ctx: _Context, p: PrincipalInfo,
         missing: dict) -> _Outcome:
    out = _Outcome(kind)
    for policy in policies:
        for st in policy.statements:
            how = _applies(st, action, resource, ctx, p, missing)
            if how is not None:
                (out.allows if st.allow else out.denies).append((policy, st, how))
    return out


def _matched(outcomes, denies: bool) -> list[MatchedStatement]:
    found = []
    for o in outcomes:
        if o is None:
            continue
        for policy, st, _ in (o.denies if denies else o.allows):
            found.append(MatchedStatement(policy.source, o.kind, st.sid, st.effect, st.start, st.end))
    return found


# -- the decision -------------------------------------------------------------------

def evaluate(request: AuthzRequest, policies: PolicySet, now: float) -> Decision:
    p = request.principal
    t = p.type
    ctx = _Context(request, now)
    action = request.action.lower()
    resource = request.resource
    missing: dict[str, None] = {}

    bare = t not in _IAM_TYPES  # only a resource-based policy can allow
    root = t == "Root"
    has_identity = not (bare or root)

    def run(kind, pols):
        return _run(kind, pols, action, resource, ctx, p, missing)

    scp = run("scp", policies.scps) if policies.scps is not None and not bare else None
    res = run("resource", (policies.resource,)) if policies.resource is not None else None
    ident = run("identity", policies.identity) if has_identity else None
    boundary = run("boundary", (policies.boundary,)) if has_identity and policies.boundary is not None else None
    session = run("session", policies.session) if has_identity and policies.session is not None else None
    trust = policies.resource is not None and (policies.resource.kind == "trust"
                                               or action.startswith("sts:assumerole"))

    outcomes = (scp, res, ident, boundary, session)
    for o in outcomes:
        if o is not None and o.denies:
            return Decision(False, EXPLICIT_DENY, o.kind, _matched(outcomes, True), list(missing), trust)

    allowed, kind = _verdict(p, action, policies, scp, res, ident, boundary, session, trust)
    if not allowed:
        return Decision(False, IMPLICIT_DENY, kind, [], list(missing), trust)
    return Decision(True, ALLOWED, kind, _matched((ident, res), False), list(missing), trust)


def _verdict(p, action, policies, scp, res, ident, boundary, session, trust) -> tuple[bool, str | None]:
    """(allowed, policy type that decided) once no Deny applies. Denied:
    the type whose missing Allow denies. Allowed: the type whose Allow
    carried the request (None: the root user's own account)."""
    t = p.type
    if scp is not None and not scp.allows:
        return False, "scp"
    grades = {how for _, _, how in res.allows} if res is not None else set()
    resource_allows = bool(grades)
    if t not in _IAM_TYPES:
        return resource_allows, "resource"

    must = policies.resource_must_allow
    if must is None:
        # A role's trust policy and a KMS key's policy are the exceptions to
        # "either an identity-based or a resource-based Allow suffices".
        must = trust or (res is not None and action.startswith("kms:"))
    cross = (policies.resource_account or p.account) != p.account

    if t == "Root":
        # Identity-based policies do not apply to the root user.
        if (cross or must) and not resource_allows:
            return False, "resource"
        return True, "resource" if cross else None

    if not cross:
        if _DIRECT in grades:
            return True, "resource"
        if _ROLE in grades:
            # Granted to the role, not the session: boundary and session
            # policies still cap it.
            capped = _cap(boundary, session)
            return capped is None, capped or "resource"
    denied = _identity_side(p, ident, boundary, session)
    if denied is not None:
        if must and not resource_allows and not cross:
            return False, "resource"
        return False, denied
    if (cross or must) and not resource_allows:
        return False, "resource"
    # Across accounts the resource owner's Allow is the last word.
    return True, "resource" if cross else "identity"


def _cap(boundary, session) -> str | None:
    if boundary is not None and not boundary.allows:
        return "boundary"
    if session is not None and not session.allows:
        return "session"
    return None


def _identity_side(p, ident, boundary, session) -> str | None:
    """The caller's own account's verdict on its identity-based permissions."""
    if not ident.allows:
        return "identity"
    if boundary is not None and not boundary.allows:
        return "boundary"
    if p.type in ("AssumedRole", "FederatedUser"):
        if session is not None:
            if not session.allows:
                return "session"
        elif p.type == "FederatedUser":
            # GetFederationToken without a policy: the session has no permissions.
            return "session"
    return None
