"""Evaluation, table-driven from the IAM User Guide's worked examples ("Policy
evaluation logic", "Cross-account policy evaluation logic", "Permissions
boundaries", "Session policies", "Principal", "NotPrincipal", role trust
policies): each row is a request, the policies that apply, and AWS's
decision, deciding policy type and AccessDenied reason."""

from __future__ import annotations

import calendar

import pytest

from cloudlet.iam import AuthzRequest, MatchedStatement, PolicySet, PrincipalInfo, evaluate, parse_policy

NOW = calendar.timegm((2024, 1, 1, 0, 0, 0))
V = "2012-10-17"
A = "123456789012"
B = "444455556666"
QUEUE = f"arn:aws:sqs:us-east-1:{A}:q"
ROLE = f"arn:aws:iam::{A}:role/app"


def user(name: str, account: str = A, **kw) -> PrincipalInfo:
    return PrincipalInfo(f"arn:aws:iam::{account}:user/{name}", account, "IAMUser", f"AIDA{name.upper()}", name, **kw)


def session(role: str = "app", name: str = "s1", account: str = A, **kw) -> PrincipalInfo:
    return PrincipalInfo(f"arn:aws:sts::{account}:assumed-role/{role}/{name}", account, "AssumedRole",
                         f"AROA{role.upper()}:{name}", role_arn=f"arn:aws:iam::{account}:role/{role}", **kw)


def root(account: str = A) -> PrincipalInfo:
    return PrincipalInfo(f"arn:aws:iam::{account}:root", account, "Root", account)


def federated(name: str = "bob", account: str = A) -> PrincipalInfo:
    return PrincipalInfo(f"arn:aws:sts::{account}:federated-user/{name}", account, "FederatedUser", f"{account}:{name}")


SNS = PrincipalInfo("sns.amazonaws.com", "", "AWSService", service="sns.amazonaws.com")
LAMBDA = PrincipalInfo("lambda.amazonaws.com", "", "AWSService", service="lambda.amazonaws.com")
ANONYMOUS = PrincipalInfo("anonymous", "", "Anonymous")
ALICE, BOB, CARLOS = user("alice"), user("bob"), user("carlossalazar")


def pol(*statements, kind: str = "identity", version: str = V, source: str = "") -> object:
    return parse_policy({"Version": version, "Statement": list(statements)}, kind, source or kind)


def allow(action, resource="*", **kw) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **kw}


def deny(action, resource="*", **kw) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **kw}


def grant(principal, action, resource=None, effect="Allow", **kw) -> dict:
    """A resource-policy statement."""
    st = {"Effect": effect, "Principal": principal, "Action": action, **kw}
    if resource is not None:
        st["Resource"] = resource
    return st


def res(*statements) -> object:
    return pol(*statements, kind="resource")


def trust(*statements) -> object:
    return pol(*statements, kind="trust")


def bnd(*statements) -> object:
    return pol(*statements, kind="boundary")


def ses(*statements) -> object:
    return pol(*statements, kind="session")


def scp(*statements) -> object:
    return pol(*statements, kind="scp")


# -- the worked examples' policies ------------------------------------------------------

CARLOS_POLICY = pol(
    {"Sid": "AllowS3ListRead", "Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:GetAccountPublicAccessBlock", "s3:ListAccessPoints",
                "s3:ListAllMyBuckets"], "Resource": "arn:aws:s3:::*"},
    {"Sid": "AllowS3Self", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"})
CARLOS_BUCKET = res(grant({"AWS": f"arn:aws:iam::{A}:user/carlossalazar"}, "s3:*",
                          ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"]))

GET_LIST = pol({"Sid": "AllowGetList", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
               {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"})

X_CARLOS = user("carlossalazar", "111111111111")
X_CARLOS_POLICY = pol(
    {"Sid": "AllowS3ListRead", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
    {"Sid": "AllowS3ProductionObjectActions", "Effect": "Allow", "Action": "s3:*Object*",
     "Resource": "arn:aws:s3:::Production/*"},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::*log*", "arn:aws:s3:::*log*/*"]})
PRODUCTION_BUCKET = res(grant({"AWS": "arn:aws:iam::111111111111:user/carlossalazar"},
                              ["s3:GetObject*", "s3:PutObject*", "s3:ReplicateObject", "s3:RestoreObject"],
                              "arn:aws:s3:::Production/*"))

SHIRLEY = user("ShirleyRodriguez")
SHIRLEY_BOUNDARY = bnd(allow(["s3:*", "cloudwatch:*", "ec2:*"]))
X_COMPANY_BOUNDARY = bnd(
    {"Sid": "ServiceBoundaries", "Effect": "Allow", "Action": ["s3:*", "cloudwatch:*", "ec2:*", "dynamodb:*"],
     "Resource": "*"},
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"]})

S3_ALL = pol(allow("s3:*"))
SQS_ALL = pol(allow("sqs:*"))
ONLY_S3_BOUNDARY = bnd(allow("s3:*"))
ONLY_GET_SESSION = ses(allow("s3:GetObject"))
SQS_TO_USER = res(grant({"AWS": ALICE.arn}, "sqs:SendMessage", QUEUE))
SQS_TO_ROLE = res(grant({"AWS": ROLE}, "sqs:SendMessage", QUEUE))
SQS_TO_SESSION = res(grant({"AWS": session().arn}, "sqs:SendMessage", QUEUE))
SQS_TO_ACCOUNT = res(grant({"AWS": A}, "sqs:SendMessage", QUEUE))
SQS_TO_FEDERATED = res(grant({"AWS": federated().arn}, "sqs:SendMessage", QUEUE))
SNS_TO_QUEUE = res(grant({"Service": "sns.amazonaws.com"}, "sqs:SendMessage", QUEUE,
                         Condition={"ArnEquals": {"aws:SourceArn": f"arn:aws:sns:us-east-1:{A}:topic"}}))
PUBLIC_READ = res(grant("*", "s3:GetObject", "arn:aws:s3:::public/*"))
DENY_ALL_RES = res(grant("*", "*", "*", effect="Deny"))
ACCOUNT_B_BUCKET = res(grant({"AWS": A}, "s3:GetObject", "arn:aws:s3:::other/*"))

NOT_BOB_DOC = {"Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"]}
NOT_BOB_AND_ACCOUNT = res({**NOT_BOB_DOC, "NotPrincipal": {"AWS": [BOB.arn, f"arn:aws:iam::{A}:root"]}})
NOT_BOB_ONLY = res({**NOT_BOB_DOC, "NotPrincipal": {"AWS": BOB.arn}})
NOT_SESSION_FULL = res({**NOT_BOB_DOC, "NotPrincipal": {"AWS": [session().arn, ROLE, A]}})
NOT_SESSION_PARTIAL = res({**NOT_BOB_DOC, "NotPrincipal": {"AWS": [session().arn, A]}})

TRUST_ALICE = trust({"Effect": "Allow", "Principal": {"AWS": ALICE.arn}, "Action": "sts:AssumeRole"})
TRUST_ACCOUNT = trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole"})
TRUST_B = trust({"Effect": "Allow", "Principal": {"AWS": B}, "Action": "sts:AssumeRole"})
TRUST_DENY_ALICE = trust({"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"},
                         {"Effect": "Deny", "Principal": {"AWS": ALICE.arn}, "Action": "sts:AssumeRole"})
TRUST_LAMBDA = trust({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
TRUST_ROLE = trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/ci"}, "Action": "sts:AssumeRole"})
OIDC = f"arn:aws:iam::{A}:oidc-provider/token.example.com"
TRUST_OIDC = trust({"Effect": "Allow", "Principal": {"Federated": OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"token.example.com:aud": "app"}}})
WEB = PrincipalInfo(OIDC, A, "WebIdentityUser", "subject-1")
ASSUME_APP = pol(allow("sts:AssumeRole", ROLE))

MFA_POLICY = pol(
    {"Sid": "AllowListUsers", "Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
    {"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
     "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices",
                   "iam:ListVirtualMFADevices", "iam:ResyncMFADevice", "sts:GetSessionToken"],
     "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}})
PAYROLL = pol(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*",
                               "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]})
NOT_IAM = pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
OWN_KEYS = pol(allow("iam:*AccessKey*", "arn:aws:iam::*:user/${aws:username}"))
DEPARTMENT = pol(allow("s3:GetObject", "arn:aws:s3:::bucket/${aws:PrincipalTag/department, 'shared'}/*"))

ALLOWED, EXPLICIT, IMPLICIT = "allowed", "explicitDeny", "implicitDeny"


def because(kind_text: str, action: str) -> str:
    return f"because no {kind_text} allows the {action} action"


ID, RB, PB, SP, SCP_ = ("identity-based policy", "resource-based policy", "permissions boundary", "session policy",
                        "service control policy")

CASES = [
    # -- Policy evaluation logic: Carlos within one account ------------------------------------
    ("carlos-logs-explicit-deny", CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar-logs/f", {},
     dict(identity=[CARLOS_POLICY]), (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    ("carlos-own-bucket-both-allow", CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f", {},
     dict(identity=[CARLOS_POLICY], resource=CARLOS_BUCKET), (ALLOWED, "resource", "")),
    ("carlos-identity-alone-suffices", CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f", {},
     dict(identity=[CARLOS_POLICY]), (ALLOWED, "identity", "")),
    ("carlos-bucket-policy-alone-suffices", CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f", {},
     dict(resource=CARLOS_BUCKET), (ALLOWED, "resource", "")),
    ("carlos-list-read", CARLOS, "s3:GetBucketLocation", "arn:aws:s3:::anybucket", {},
     dict(identity=[CARLOS_POLICY]), (ALLOWED, "identity", "")),
    ("carlos-other-bucket", CARLOS, "s3:DeleteBucket", "arn:aws:s3:::other", {},
     dict(identity=[CARLOS_POLICY]), (IMPLICIT, "identity", because(ID, "s3:DeleteBucket"))),
    ("carlos-bucket-deny-beats-both", CARLOS, "s3:PutObject", "arn:aws:s3:::carlossalazar/f", {},
     dict(identity=[CARLOS_POLICY], resource=DENY_ALL_RES),
     (EXPLICIT, "resource", "with an explicit deny in a resource-based policy")),
    # -- The difference between explicit and implicit denies ------------------------------------
    ("get-list-allowed", ALICE, "iam:GetUser", "*", {}, dict(identity=[GET_LIST]), (ALLOWED, "identity", "")),
    ("get-list-implicit", ALICE, "iam:CreatePolicy", "*", {}, dict(identity=[GET_LIST]),
     (IMPLICIT, "identity", because(ID, "iam:CreatePolicy"))),
    ("get-list-explicit", ALICE, "iam:GetOrganizationsAccessReport", "*", {}, dict(identity=[GET_LIST]),
     (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    ("deny-beats-added-allow", ALICE, "iam:GenerateCredentialReport", "*", {},
     dict(identity=[GET_LIST, pol(allow("iam:GenerateCredentialReport"))]),
     (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    # -- Cross-account: Carlos in 111111111111, buckets in 222222222222 -----------------------------
    ("x-logs-explicit", X_CARLOS, "s3:PutObject", "arn:aws:s3:::Production-logs/f", {},
     dict(identity=[X_CARLOS_POLICY], resource_account="222222222222"),
     (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    ("x-production-both-allow", X_CARLOS, "s3:PutObject", "arn:aws:s3:::Production/f", {},
     dict(identity=[X_CARLOS_POLICY], resource=PRODUCTION_BUCKET, resource_account="222222222222"),
     (ALLOWED, "resource", "")),
    ("x-delete-not-in-bucket-policy", X_CARLOS, "s3:DeleteObject", "arn:aws:s3:::Production/f", {},
     dict(identity=[X_CARLOS_POLICY], resource=PRODUCTION_BUCKET, resource_account="222222222222"),
     (IMPLICIT, "resource", because(RB, "s3:DeleteObject"))),
    ("x-bucket-policy-alone-is-not-enough", X_CARLOS, "s3:PutObject", "arn:aws:s3:::Production/f", {},
     dict(resource=PRODUCTION_BUCKET, resource_account="222222222222"),
     (IMPLICIT, "identity", because(ID, "s3:PutObject"))),
    ("x-no-resource-policy", X_CARLOS, "s3:GetObject", "arn:aws:s3:::Production/f", {},
     dict(identity=[X_CARLOS_POLICY], resource_account="222222222222"),
     (IMPLICIT, "resource", because(RB, "s3:GetObject"))),
    ("x-account-principal-delegates", user("dev", B), "s3:GetObject", "arn:aws:s3:::other/f", {},
     dict(identity=[S3_ALL], resource=res(grant({"AWS": B}, "s3:GetObject", "arn:aws:s3:::other/*")),
          resource_account=A), (ALLOWED, "resource", "")),
    ("x-account-principal-needs-identity", user("dev", B), "s3:GetObject", "arn:aws:s3:::other/f", {},
     dict(resource=res(grant({"AWS": f"arn:aws:iam::{B}:root"}, "s3:GetObject", "arn:aws:s3:::other/*")),
          resource_account=A), (IMPLICIT, "identity", because(ID, "s3:GetObject"))),
    ("x-boundary-caps-caller", user("dev", B), "s3:GetObject", "arn:aws:s3:::other/f", {},
     dict(identity=[S3_ALL], boundary=bnd(allow("sqs:*")),
          resource=res(grant({"AWS": B}, "s3:GetObject", "arn:aws:s3:::other/*")), resource_account=A),
     (IMPLICIT, "boundary", because(PB, "s3:GetObject"))),
    ("x-wrong-account-named", user("dev", B), "s3:GetObject", "arn:aws:s3:::other/f", {},
     dict(identity=[S3_ALL], resource=ACCOUNT_B_BUCKET, resource_account="999999999999"),
     (IMPLICIT, "resource", because(RB, "s3:GetObject"))),
    # -- Permissions boundaries ----------------------------------------------------------------
    ("shirley-create-user", SHIRLEY, "iam:CreateUser", "*", {},
     dict(identity=[pol(allow("iam:CreateUser"))], boundary=SHIRLEY_BOUNDARY),
     (IMPLICIT, "boundary", because(PB, "iam:CreateUser"))),
    ("shirley-s3", SHIRLEY, "s3:ListBucket", "arn:aws:s3:::b", {},
     dict(identity=[S3_ALL], boundary=SHIRLEY_BOUNDARY), (ALLOWED, "identity", "")),
    ("boundary-grants-nothing", SHIRLEY, "s3:ListBucket", "arn:aws:s3:::b", {},
     dict(boundary=SHIRLEY_BOUNDARY), (IMPLICIT, "identity", because(ID, "s3:ListBucket"))),
    ("boundary-explicit-deny", SHIRLEY, "s3:GetObject", "arn:aws:s3:::logs/x", {},
     dict(identity=[S3_ALL], boundary=X_COMPANY_BOUNDARY),
     (EXPLICIT, "boundary", "with an explicit deny in a permissions boundary")),
    # -- Resource-based policies and implicit denies (same account) ----------------------------
    ("user-arn-not-capped-by-boundary", ALICE, "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_USER, boundary=ONLY_S3_BOUNDARY), (ALLOWED, "resource", "")),
    ("role-arn-capped-by-boundary", session(), "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_ROLE, boundary=ONLY_S3_BOUNDARY), (IMPLICIT, "boundary", because(PB, "sqs:SendMessage"))),
    ("role-arn-not-capped-by-identity", session(), "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_ROLE), (ALLOWED, "resource", "")),
    ("role-arn-capped-by-session-policy", session(), "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_ROLE, session=[ONLY_GET_SESSION]),
     (IMPLICIT, "session", because(SP, "sqs:SendMessage"))),
    ("session-arn-not-capped-by-boundary", session(), "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_SESSION, boundary=ONLY_S3_BOUNDARY), (ALLOWED, "resource", "")),
    ("session-arn-not-capped-by-session-policy", session(), "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_SESSION, session=[ONLY_GET_SESSION]), (ALLOWED, "resource", "")),
    ("other-session-of-role", session(name="s2"), "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_SESSION), (IMPLICIT, "identity", because(ID, "sqs:SendMessage"))),
    ("account-principal-delegates", ALICE, "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_ACCOUNT), (IMPLICIT, "identity", because(ID, "sqs:SendMessage"))),
    ("account-principal-with-identity", ALICE, "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_ACCOUNT, identity=[SQS_ALL]), (ALLOWED, "identity", "")),
    ("resource-policy-for-someone-else", BOB, "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_USER), (IMPLICIT, "identity", because(ID, "sqs:SendMessage"))),
    # -- Session policies ------------------------------------------------------------------------
    ("session-allows", session(), "s3:GetObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL], session=[ONLY_GET_SESSION]), (ALLOWED, "identity", "")),
    ("session-caps-role", session(), "s3:PutObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL], session=[ONLY_GET_SESSION]), (IMPLICIT, "session", because(SP, "s3:PutObject"))),
    ("session-grants-nothing-alone", session(), "s3:GetObject", "arn:aws:s3:::b/k", {},
     dict(session=[ONLY_GET_SESSION]), (IMPLICIT, "identity", because(ID, "s3:GetObject"))),
    ("session-explicit-deny", session(), "s3:GetObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL], session=[ses(deny("s3:*"))]),
     (EXPLICIT, "session", "with an explicit deny in a sessions policy")),
    ("role-without-session-policy", session(), "s3:PutObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL]), (ALLOWED, "identity", "")),
    ("session-and-boundary", session(), "s3:GetObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL], session=[ONLY_GET_SESSION], boundary=bnd(allow("sqs:*"))),
     (IMPLICIT, "boundary", because(PB, "s3:GetObject"))),
    ("federated-user-without-session-policy", federated(), "s3:GetObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL]), (IMPLICIT, "session", because(SP, "s3:GetObject"))),
    ("federated-user-with-session-policy", federated(), "s3:GetObject", "arn:aws:s3:::b/k", {},
     dict(identity=[S3_ALL], session=[ONLY_GET_SESSION]), (ALLOWED, "identity", "")),
    ("federated-user-named-directly", federated(), "sqs:SendMessage", QUEUE, {},
     dict(identity=[S3_ALL], resource=SQS_TO_FEDERATED), (ALLOWED, "resource", "")),
    # -- The root user -----------------------------------------------------------------------------
    ("root-own-account", root(), "iam:CreateUser", "*", {}, dict(), (ALLOWED, None, "")),
    ("root-ignores-identity-policies", root(), "iam:CreateUser", "*", {},
     dict(identity=[pol(deny("*"))]), (ALLOWED, None, "")),
    ("root-resource-deny", root(), "sqs:SendMessage", QUEUE, {}, dict(resource=DENY_ALL_RES),
     (EXPLICIT, "resource", "with an explicit deny in a resource-based policy")),
    ("root-scp-deny", root(), "iam:CreateUser", "*", {}, dict(scps=[scp(allow("*"), deny("iam:*"))]),
     (EXPLICIT, "scp", "with an explicit deny in a service control policy")),
    ("root-scp-implicit", root(), "iam:CreateUser", "*", {}, dict(scps=[scp(allow("s3:*"))]),
     (IMPLICIT, "scp", because(SCP_, "iam:CreateUser"))),
    ("root-cross-account-needs-resource-policy", root(B), "s3:GetObject", "arn:aws:s3:::other/f", {},
     dict(resource_account=A), (IMPLICIT, "resource", because(RB, "s3:GetObject"))),
    ("root-cross-account-allowed", root(B), "s3:GetObject", "arn:aws:s3:::other/f", {},
     dict(resource=res(grant({"AWS": B}, "s3:GetObject", "arn:aws:s3:::other/*")), resource_account=A),
     (ALLOWED, "resource", "")),
    # -- Service control policies ---------------------------------------------------------------
    ("scp-allows", ALICE, "iam:CreateUser", "*", {},
     dict(identity=[pol(allow("iam:CreateUser"))], scps=[scp(allow("*"))]), (ALLOWED, "identity", "")),
    ("scp-implicit", ALICE, "iam:CreateUser", "*", {},
     dict(identity=[pol(allow("iam:CreateUser"))], scps=[scp(allow("s3:*"))]),
     (IMPLICIT, "scp", because(SCP_, "iam:CreateUser"))),
    ("scp-deny", ALICE, "iam:CreateUser", "*", {},
     dict(identity=[pol(allow("*"))], scps=[scp(allow("*")), scp(deny("iam:CreateUser"))]),
     (EXPLICIT, "scp", "with an explicit deny in a service control policy")),
    ("scp-caps-resource-policy-too", ALICE, "sqs:SendMessage", QUEUE, {},
     dict(resource=SQS_TO_USER, scps=[scp(allow("s3:*"))]), (IMPLICIT, "scp", because(SCP_, "sqs:SendMessage"))),
    ("scp-not-for-services", SNS, "sqs:SendMessage", QUEUE, {"aws:SourceArn": f"arn:aws:sns:us-east-1:{A}:topic"},
     dict(resource=SNS_TO_QUEUE, scps=[scp(deny("*"))]), (ALLOWED, "resource", "")),
    # -- Services and anonymous callers ------------------------------------------------------------
    ("service-source-arn", SNS, "sqs:SendMessage", QUEUE, {"aws:SourceArn": f"arn:aws:sns:us-east-1:{A}:topic"},
     dict(resource=SNS_TO_QUEUE), (ALLOWED, "resource", "")),
    ("service-other-topic", SNS, "sqs:SendMessage", QUEUE, {"aws:SourceArn": f"arn:aws:sns:us-east-1:{A}:other"},
     dict(resource=SNS_TO_QUEUE), (IMPLICIT, "resource", because(RB, "sqs:SendMessage"))),
    ("service-no-policy", SNS, "sqs:SendMessage", QUEUE, {}, dict(),
     (IMPLICIT, "resource", because(RB, "sqs:SendMessage"))),
    ("other-service", LAMBDA, "sqs:SendMessage", QUEUE, {"aws:SourceArn": f"arn:aws:sns:us-east-1:{A}:topic"},
     dict(resource=SNS_TO_QUEUE), (IMPLICIT, "resource", because(RB, "sqs:SendMessage"))),
    ("anonymous-public-read", ANONYMOUS, "s3:GetObject", "arn:aws:s3:::public/k", {}, dict(resource=PUBLIC_READ),
     (ALLOWED, "resource", "")),
    ("anonymous-write", ANONYMOUS, "s3:PutObject", "arn:aws:s3:::public/k", {}, dict(resource=PUBLIC_READ),
     (IMPLICIT, "resource", because(RB, "s3:PutObject"))),
    ("everyone-includes-users", BOB, "s3:GetObject", "arn:aws:s3:::public/k", {}, dict(resource=PUBLIC_READ),
     (ALLOWED, "resource", "")),
    ("aws-star-includes-services", SNS, "sqs:SendMessage", QUEUE, {},
     dict(resource=res(grant({"AWS": "*"}, "sqs:SendMessage", QUEUE))), (ALLOWED, "resource", "")),
    # -- NotPrincipal with Deny -------------------------------------------------------------------
    ("not-principal-spares-bob", BOB, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", {},
     dict(identity=[S3_ALL], resource=NOT_BOB_AND_ACCOUNT), (ALLOWED, "identity", "")),
    ("not-principal-denies-alice", ALICE, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", {},
     dict(identity=[S3_ALL], resource=NOT_BOB_AND_ACCOUNT),
     (EXPLICIT, "resource", "with an explicit deny in a resource-based policy")),
    ("not-principal-needs-the-account-too", BOB, "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", {},
     dict(identity=[S3_ALL], resource=NOT_BOB_ONLY),
     (EXPLICIT, "resource", "with an explicit deny in a resource-based policy")),
    ("not-principal-session-all-listed", session(), "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", {},
     dict(identity=[S3_ALL], resource=NOT_SESSION_FULL), (ALLOWED, "identity", "")),
    ("not-principal-session-role-missing", session(), "s3:GetObject", "arn:aws:s3:::BUCKETNAME/k", {},
     dict(identity=[S3_ALL], resource=NOT_SESSION_PARTIAL),
     (EXPLICIT, "resource", "with an explicit deny in a resource-based policy")),
    ("not-principal-elsewhere", ALICE, "s3:GetObject", "arn:aws:s3:::OTHER/k", {},
     dict(identity=[S3_ALL], resource=NOT_BOB_AND_ACCOUNT), (ALLOWED, "identity", "")),
    # -- Role trust policies (sts:AssumeRole on the role's ARN) -------------------------------------
    ("trust-names-user", ALICE, "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_ALICE), (ALLOWED, "resource", "")),
    ("trust-names-account-needs-identity", ALICE, "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_ACCOUNT),
     (IMPLICIT, "identity", because(ID, "sts:AssumeRole"))),
    ("trust-names-account-with-identity", ALICE, "sts:AssumeRole", ROLE, {},
     dict(resource=TRUST_ACCOUNT, identity=[ASSUME_APP]), (ALLOWED, "identity", "")),
    ("trust-not-named", BOB, "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_ALICE, identity=[ASSUME_APP]),
     (IMPLICIT, "resource", "because no role trust policy allows the sts:AssumeRole action")),
    ("trust-explicit-deny", ALICE, "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_DENY_ALICE, identity=[ASSUME_APP]),
     (EXPLICIT, "resource", "with an explicit deny in the role trust policy")),
    ("trust-root-must-be-named", root(), "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_ALICE),
     (IMPLICIT, "resource", "because no role trust policy allows the sts:AssumeRole action")),
    ("trust-root-named", root(), "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_ACCOUNT), (ALLOWED, None, "")),
    ("trust-cross-account", user("dev", B), "sts:AssumeRole", ROLE, {},
     dict(resource=TRUST_B, identity=[ASSUME_APP], resource_account=A), (ALLOWED, "resource", "")),
    ("trust-cross-account-needs-identity", user("dev", B), "sts:AssumeRole", ROLE, {},
     dict(resource=TRUST_B, resource_account=A), (IMPLICIT, "identity", because(ID, "sts:AssumeRole"))),
    ("trust-service", LAMBDA, "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_LAMBDA), (ALLOWED, "resource", "")),
    ("trust-role-chaining", session("ci"), "sts:AssumeRole", ROLE, {}, dict(resource=TRUST_ROLE),
     (ALLOWED, "resource", "")),
    ("trust-web-identity", WEB, "sts:AssumeRoleWithWebIdentity", ROLE, {"token.example.com:aud": "app"},
     dict(resource=TRUST_OIDC), (ALLOWED, "resource", "")),
    ("trust-web-identity-wrong-audience", WEB, "sts:AssumeRoleWithWebIdentity", ROLE,
     {"token.example.com:aud": "other"}, dict(resource=TRUST_OIDC),
     (IMPLICIT, "resource", "because no role trust policy allows the sts:AssumeRoleWithWebIdentity action")),
    ("key-policy-must-allow", ALICE, "kms:Decrypt", f"arn:aws:kms:us-east-1:{A}:key/k", {},
     dict(identity=[pol(allow("kms:*"))], resource=res(grant({"AWS": BOB.arn}, "kms:*", "*")),
          resource_must_allow=True), (IMPLICIT, "resource", because(RB, "kms:Decrypt"))),
    ("key-policy-enables-iam", ALICE, "kms:Decrypt", f"arn:aws:kms:us-east-1:{A}:key/k", {},
     dict(identity=[pol(allow("kms:*"))], resource=res(grant({"AWS": f"arn:aws:iam::{A}:root"}, "kms:*", "*")),
          resource_must_allow=True), (ALLOWED, "identity", "")),
    # -- NotAction, NotResource, IfExists (the MFA and payroll examples) ------------------------------
    ("mfa-missing-key-denied", ALICE, "iam:ListUsers", "*", {}, dict(identity=[MFA_POLICY]),
     (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    ("mfa-false-denied", ALICE, "iam:ListUsers", "*", {"aws:MultiFactorAuthPresent": False},
     dict(identity=[MFA_POLICY]), (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    ("mfa-present", ALICE, "iam:ListUsers", "*", {"aws:MultiFactorAuthPresent": True}, dict(identity=[MFA_POLICY]),
     (ALLOWED, "identity", "")),
    ("mfa-exempt-action", ALICE, "iam:GetUser", "*", {}, dict(identity=[MFA_POLICY, pol(allow("iam:GetUser"))]),
     (ALLOWED, "identity", "")),
    ("payroll-allowed", ALICE, "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan", {}, dict(identity=[PAYROLL]),
     (ALLOWED, "identity", "")),
    ("payroll-not-resource-denied", ALICE, "s3:GetObject", "arn:aws:s3:::HRBucket/Other", {},
     dict(identity=[PAYROLL]), (EXPLICIT, "identity", "with an explicit deny in an identity-based policy")),
    ("not-action-allows-others", ALICE, "s3:GetObject", "arn:aws:s3:::b/k", {}, dict(identity=[NOT_IAM]),
     (ALLOWED, "identity", "")),
    ("not-action-excludes-iam", ALICE, "iam:CreateUser", "*", {}, dict(identity=[NOT_IAM]),
     (IMPLICIT, "identity", because(ID, "iam:CreateUser"))),
    ("action-case-insensitive", ALICE, "S3:getobject", "arn:aws:s3:::b/k", {}, dict(identity=[S3_ALL]),
     (ALLOWED, "identity", "")),
    ("resource-case-sensitive", CARLOS, "s3:PutObject", "arn:aws:s3:::CarlosSalazar/f", {},
     dict(identity=[CARLOS_POLICY]), (IMPLICIT, "identity", because(ID, "s3:PutObject"))),
    # -- Policy variables in Resource --------------------------------------------------------------
    ("username-variable", ALICE, "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/alice", {},
     dict(identity=[OWN_KEYS]), (ALLOWED, "identity", "")),
    ("username-variable-other-user", ALICE, "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/bob", {},
     dict(identity=[OWN_KEYS]), (IMPLICIT, "identity", because(ID, "iam:CreateAccessKey"))),
    ("username-variable-unresolved-for-roles", session(), "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/app", {},
     dict(identity=[OWN_KEYS]), (IMPLICIT, "identity", because(ID, "iam:CreateAccessKey"))),
    ("tag-variable", user("dana", tags={"department": "hr"}), "s3:GetObject", "arn:aws:s3:::bucket/hr/k", {},
     dict(identity=[DEPARTMENT]), (ALLOWED, "identity", "")),
    ("tag-variable-default", user("erin"), "s3:GetObject", "arn:aws:s3:::bucket/shared/k", {},
     dict(identity=[DEPARTMENT]), (ALLOWED, "identity", "")),
    ("tag-variable-other-department", user("dana", tags={"department": "hr"}), "s3:GetObject",
     "arn:aws:s3:::bucket/shared/k", {}, dict(identity=[DEPARTMENT]),
     (IMPLICIT, "identity", because(ID, "s3:GetObject"))),
    ("old-version-no-variables", ALICE, "sqs:SendMessage", QUEUE, {},
     dict(resource=pol(grant("*", "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:${aws:username}"),
                       kind="resource", version="2008-10-17")),
     (IMPLICIT, "identity", because(ID, "sqs:SendMessage"))),
]


@pytest.mark.parametrize("name,principal,action,resource,context,policy_set,expected", CASES,
                         ids=[c[0] for c in CASES])
def test_worked_examples(name, principal, action, resource, context, policy_set, expected):
    decision = evaluate(AuthzRequest(principal, action, resource, context), PolicySet(**policy_set), NOW)
    assert (decision.decision, decision.deciding_kind, decision.reason(action)) == expected
    assert decision.allowed is (expected[0] == ALLOWED)


def test_matched_statements_and_missing_context():
    # The AWS CLI's SimulateCustomPolicy example, as the IAM service would run it.
    text = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
            '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}')
    policy = parse_policy(text, source="PolicyInputList.1")
    request = AuthzRequest(ALICE, "dynamodb:CreateBackup", "*", {"aws:CurrentTime": "2019-04-25T11:00:00Z"})
    decision = evaluate(request, PolicySet(identity=[policy]), NOW)
    assert decision.decision == "allowed"
    assert decision.matched == [MatchedStatement("PolicyInputList.1", "identity", None, "Allow", (1, 38), (1, 167))]
    assert decision.missing_context == []
    request.context = {"aws:CurrentTime": "2014-04-25T11:00:00Z"}
    decision = evaluate(request, PolicySet(identity=[policy]), NOW)
    assert (decision.decision, decision.matched) == ("implicitDeny", [])

    deny_sid = pol({"Sid": "NoDelete", **deny("s3:Delete*")}, allow("s3:*", Condition={
        "StringEquals": {"s3:prefix": "home/", "aws:RequestTag/team": "blue"},
        "Bool": {"aws:SecureTransport": "true"}}), source="user/alice/inline")
    decision = evaluate(AuthzRequest(ALICE, "s3:DeleteObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": True}),
                        PolicySet(identity=[deny_sid]), NOW)
    assert decision.decision == "explicitDeny"
    assert [(m.source, m.sid, m.effect) for m in decision.matched] == [("user/alice/inline", "NoDelete", "Deny")]
    assert decision.missing_context == ["s3:prefix", "aws:RequestTag/team"]


def test_principal_context_keys():
    def allowed(principal, block, policy_kind="identity", **kw) -> bool:
        statement = allow("s3:GetObject", Condition=block)
        if policy_kind == "resource":
            statement["Principal"] = "*"
            policies = PolicySet(resource=pol(statement, kind="resource"), **kw)
        else:
            policies = PolicySet(identity=[pol(statement)])
        return evaluate(AuthzRequest(principal, "s3:GetObject", "*", {}), policies, NOW).allowed

    s = session()
    assert allowed(s, {"ArnEquals": {"aws:PrincipalArn": ROLE}})  # a session is known by its role
    assert allowed(s, {"StringEquals": {"aws:userid": "AROAAPP:s1", "aws:PrincipalType": "AssumedRole",
                                        "aws:PrincipalAccount": A}})
    assert allowed(s, {"Null": {"aws:username": "true"}})
    assert allowed(ALICE, {"StringEquals": {"aws:username": "alice", "aws:userid": "AIDAALICE",
                                            "aws:PrincipalType": "User", "aws:PrincipalArn": ALICE.arn}})
    assert allowed(federated(), {"StringEquals": {"aws:PrincipalType": "FederatedUser", "aws:userid": f"{A}:bob"}},
                   ) is False  # no session policy: nothing is allowed
    assert allowed(root(B), {"StringEquals": {"aws:PrincipalType": "Account", "aws:userid": B}}, "resource",
                   resource_account=A)
    assert allowed(ANONYMOUS, {"StringEquals": {"aws:PrincipalType": "Anonymous", "aws:userid": "anonymous"}},
                   "resource")
    assert allowed(SNS, {"StringEquals": {"aws:PrincipalServiceName": "sns.amazonaws.com"},
                         "Bool": {"aws:PrincipalIsAWSService": "true"}}, "resource")
    assert allowed(SNS, {"Null": {"aws:PrincipalArn": "true", "aws:PrincipalAccount": "true"}}, "resource")


def test_reason_texts():
    from cloudlet.iam import Decision

    expected = {
        ("explicitDeny", "identity"): "with an explicit deny in an identity-based policy",
        ("explicitDeny", "resource"): "with an explicit deny in a resource-based policy",
        ("explicitDeny", "boundary"): "with an explicit deny in a permissions boundary",
        ("explicitDeny", "session"): "with an explicit deny in a sessions policy",
        ("explicitDeny", "scp"): "with an explicit deny in a service control policy",
        ("implicitDeny", "identity"): "because no identity-based policy allows the sqs:SendMessage action",
        ("implicitDeny", "resource"): "because no resource-based policy allows the sqs:SendMessage action",
        ("implicitDeny", "boundary"): "because no permissions boundary allows the sqs:SendMessage action",
        ("implicitDeny", "session"): "because no session policy allows the sqs:SendMessage action",
        ("implicitDeny", "scp"): "because no service control policy allows the sqs:SendMessage action",
    }
    for (decision, kind), text in expected.items():
        assert Decision(False, decision, kind, [], []).reason("sqs:SendMessage") == text
    assert Decision(True, "allowed", "identity", [], []).reason("sqs:SendMessage") == ""


def test_context_is_not_mutated_and_values_normalized():
    context = {"aws:SecureTransport": True, "s3:max-keys": 10, "aws:TagKeys": ("a", "b")}
    policy = pol(allow("s3:ListBucket", Condition={"Bool": {"aws:SecureTransport": "true"},
                                                   "NumericLessThanEquals": {"s3:max-keys": "10"},
                                                   "ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}))
    decision = evaluate(AuthzRequest(ALICE, "s3:ListBucket", "*", context), PolicySet(identity=[policy]), NOW)
    assert decision.allowed
    assert context == {"aws:SecureTransport": True, "s3:max-keys": 10, "aws:TagKeys": ("a", "b")}
