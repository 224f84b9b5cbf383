"""Properties of evaluation that hold for every policy set: deny wins,
allows are monotone, Not* elements complement their positive forms, and
condition blocks are AND across keys and OR across values."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cloudlet.iam import AuthzRequest, PolicySet, PrincipalInfo, evaluate, parse_policy

A = "123456789012"
NOW = 1_700_000_000.0
ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "sqs:SendMessage", "iam:ListUsers"]
ACTION_PATTERNS = ["*", "s3:*", "s3:Get*", "s3:GetObject", "sqs:*", "sqs:Send?essage", "iam:*", "*:List*",
                   "s3:*Object", "s3:?etObject", "S3:PUTOBJECT"]
RESOURCES = ["arn:aws:s3:::b/k", "arn:aws:s3:::c/k", f"arn:aws:sqs:us-east-1:{A}:q", "*"]
RESOURCE_PATTERNS = ["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "arn:aws:s3:::*", f"arn:aws:sqs:*:{A}:q",
                     "arn:aws:s3:::?/k", "arn:aws:s3:::B/*"]
PRINCIPALS = [
    PrincipalInfo(f"arn:aws:iam::{A}:user/alice", A, "IAMUser", "AIDAALICE", "alice"),
    PrincipalInfo(f"arn:aws:sts::{A}:assumed-role/app/s1", A, "AssumedRole", "AROAAPP:s1",
                  role_arn=f"arn:aws:iam::{A}:role/app"),
    PrincipalInfo(f"arn:aws:iam::{A}:root", A, "Root", A),
]
RESOURCE_PRINCIPALS = ["*", {"AWS": A}, {"AWS": f"arn:aws:iam::{A}:user/alice"}, {"AWS": f"arn:aws:iam::{A}:role/app"},
                       {"AWS": f"arn:aws:sts::{A}:assumed-role/app/s1"}, {"AWS": "999999999999"}]

lists = st.lists


def statement(effect: str, kind: str):
    """A random statement of a policy of the given kind."""
    base = st.fixed_dictionaries({
        "Effect": st.just(effect),
        "Action": lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3),
        "Resource": lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3),
    })
    if kind == "resource":
        return st.tuples(base, st.sampled_from(RESOURCE_PRINCIPALS)).map(lambda t: {**t[0], "Principal": t[1]})
    return base


def policy(kind: str, effect: str = "Allow"):
    return lists(statement(effect, kind), min_size=1, max_size=3).map(
        lambda sts: parse_policy({"Version": "2012-10-17", "Statement": sts}, kind))


@st.composite
def policy_sets(draw, with_resource_account: bool = True) -> PolicySet:
    return PolicySet(
        identity=draw(lists(policy("identity"), max_size=3)),
        resource=draw(st.none() | policy("resource")),
        resource_account=draw(st.sampled_from([None, A, "999999999999"])) if with_resource_account else None,
        boundary=draw(st.none() | policy("boundary")),
        session=draw(st.none() | lists(policy("session"), max_size=2)),
        scps=draw(st.none() | lists(policy("scp"), min_size=1, max_size=2)),
    )


requests = st.builds(lambda p, a, r: AuthzRequest(p, a, r, {}), st.sampled_from(PRINCIPALS),
                     st.sampled_from(ACTIONS), st.sampled_from(RESOURCES))


@settings(max_examples=200, deadline=None)
@given(requests, policy_sets(), st.sampled_from(["identity", "resource", "boundary", "session", "scp"]),
       st.booleans())
def test_explicit_deny_is_never_overridden(request, policies, where, wildcard):
    if request.principal.type == "Root" and where in ("identity", "boundary", "session"):
        where = "scp"  # identity-side policies do not apply to the root user
    deny = {"Effect": "Deny", "Action": "*" if wildcard else request.action,
            "Resource": "*" if wildcard else request.resource}
    if where == "resource":
        deny["Principal"] = "*"
    denying = parse_policy({"Version": "2012-10-17", "Statement": [deny]}, where)
    if where == "identity":
        policies.identity = [*policies.identity, denying]
    elif where == "resource":
        if policies.resource is not None:
            statements = [*policies.resource.document["Statement"], deny]
            denying = parse_policy({"Version": "2012-10-17", "Statement": statements}, "resource")
        policies.resource = denying
    elif where == "boundary":
        policies.boundary = denying
    elif where == "session":
        policies.session = [*(policies.session or []), denying]
    else:
        policies.scps = [*(policies.scps or []), denying]
    decision = evaluate(request, policies, NOW)
    assert decision.decision == "explicitDeny"
    assert not decision.allowed
    assert decision.reason(request.action).startswith("with an explicit deny in ")


@settings(max_examples=150, deadline=None)
@given(requests, policy_sets(), st.sampled_from(["identity", "resource", "boundary", "session", "scp"]),
       st.data())
def test_adding_an_allow_never_denies(request, policies, where, data):
    before = evaluate(request, policies, NOW)
    assume(before.allowed)
    extra = data.draw(statement("Allow", where))

    def grown(p):
        statements = p.document["Statement"]
        statements = [statements] if isinstance(statements, dict) else list(statements)
        return parse_policy({"Version": "2012-10-17", "Statement": [*statements, extra]}, p.kind)

    if where == "identity":
        policies.identity = [grown(p) for p in policies.identity] or [grown(parse_policy(
            {"Version": "2012-10-17", "Statement": [extra]}, "identity"))]
    elif where == "resource" and policies.resource is not None:
        policies.resource = grown(policies.resource)
    elif where == "boundary" and policies.boundary is not None:
        policies.boundary = grown(policies.boundary)
    elif where == "session" and policies.session:
        policies.session = [grown(p) for p in policies.session]
    elif where == "scp" and policies.scps:
        policies.scps = [grown(p) for p in policies.scps]
    assert evaluate(request, policies, NOW).allowed


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PRINCIPALS[:2]), st.sampled_from(ACTIONS), st.sampled_from(RESOURCES),
       lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=4),
       lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=4))
def test_not_elements_complement_positive_ones(principal, action, resource, actions, resources):
    def allowed(statement) -> bool:
        policy = parse_policy({"Version": "2012-10-17", "Statement": {"Effect": "Allow", **statement}})
        return evaluate(AuthzRequest(principal, action, resource, {}), PolicySet(identity=[policy]), NOW).allowed

    assert allowed({"Action": actions, "Resource": "*"}) != allowed({"NotAction": actions, "Resource": "*"})
    assert allowed({"Action": "*", "Resource": resources}) != allowed({"Action": "*", "NotResource": resources})


KEYS = ["aws:PrincipalTag/team", "s3:prefix", "ec2:InstanceType"]
VALUES = ["a", "b", "c"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)),
       st.dictionaries(st.sampled_from(KEYS), lists(st.sampled_from(VALUES), min_size=1, max_size=3), min_size=1),
       st.dictionaries(st.sampled_from(KEYS), lists(st.sampled_from(VALUES), min_size=1, max_size=3)))
def test_condition_blocks_and_keys_or_values(context, equals, not_equals):
    block = {"StringEquals": equals}
    if not_equals:
        block["StringNotEquals"] = not_equals
    policy = parse_policy({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": block}})
    principal = PrincipalInfo(f"arn:aws:iam::{A}:user/alice", A, "IAMUser", "AIDAALICE", "alice",
                              tags={"team": context.pop("aws:PrincipalTag/team")} if "aws:PrincipalTag/team"
                              in context else {})
    values = {**context, **({"aws:PrincipalTag/team": principal.tags["team"]} if principal.tags else {})}
    expected = (all(key in values and values[key] in allowed for key, allowed in equals.items())
                and all(key not in values or values[key] not in banned for key, banned in not_equals.items()))
    decision = evaluate(AuthzRequest(principal, "s3:GetObject", "*", context), PolicySet(identity=[policy]), NOW)
    assert decision.allowed is expected
