"""cloudlet's IAM policy engine: pure code, no I/O, no clock reads.

    policy = parse_policy(text, "identity", source="arn:aws:iam::123456789012:policy/P")
    decision = evaluate(AuthzRequest(principal, "sqs:SendMessage", queue_arn, context),
                        PolicySet(identity=[policy], resource=queue_policy), now)
    if not decision.allowed:
        message = f"User: {principal.arn} is not authorized to perform: " \
                  f"sqs:SendMessage on resource: {queue_arn} {decision.reason('sqs:SendMessage')}"

Modules: policy (parse and validate), matching (wildcards, ARNs), variables
(`${...}`), conditions (operators), evaluate (the decision).
"""

from cloudlet.iam.evaluate import (
    AuthzRequest,
    Decision,
    MatchedStatement,
    PolicySet,
    PrincipalInfo,
    evaluate,
)
from cloudlet.iam.policy import Policy, PolicyError, Statement, parse_policy

__all__ = [
    "AuthzRequest",
    "Decision",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "PolicySet",
    "PrincipalInfo",
    "Statement",
    "evaluate",
    "parse_policy",
]
