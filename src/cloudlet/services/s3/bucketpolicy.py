"""Bucket policies and Block Public Access.

A bucket policy is checked the way S3 checks it, which is stricter than
IAM's grammar and answers every fault as MalformedPolicy with S3's own
messages: the actions must be S3 actions that apply to the bucket or its
objects, the resources must be this bucket's ARNs, the condition types and
keys must exist. It is then compiled by the IAM engine
(cloudlet.iam.parse_policy, kind "resource") like any resource policy.

"Public" is S3's judgement (User Guide, "The meaning of public"): an Allow
to every principal that no condition ties to fixed values of a key that
names who or where the caller is.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re

from cloudlet.services.s3.common import s3_error

POLICY = "policy"
PUBLIC_ACCESS_BLOCK = "public_access_block"
MAX_POLICY_BYTES = 20 * 1024
_PAB_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

# The S3 actions a bucket policy may name, by the resource they apply to.
OBJECT_ACTIONS = frozenset("""
AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectTagging DeleteObjectVersion
DeleteObjectVersionTagging GetObject GetObjectAcl GetObjectAttributes GetObjectLegalHold GetObjectRetention
GetObjectTagging GetObjectTorrent GetObjectVersion GetObjectVersionAcl GetObjectVersionAttributes
GetObjectVersionForReplication GetObjectVersionTagging GetObjectVersionTorrent InitiateReplication
ListMultipartUploadParts ObjectOwnerOverrideToBucketOwner PutObject PutObjectAcl PutObjectLegalHold
PutObjectRetention PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging ReplicateDelete ReplicateObject
ReplicateTags RestoreObject RenameObject
""".split())
BUCKET_ACTIONS = frozenset("""
CreateBucket DeleteBucket DeleteBucketOwnershipControls DeleteBucketPolicy DeleteBucketWebsite
GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAcl GetBucketCORS GetBucketLocation
GetBucketLogging GetBucketNotification GetBucketObjectLockConfiguration GetBucketOwnershipControls
GetBucketPolicy GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment GetBucketTagging
GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration GetIntelligentTieringConfiguration
GetInventoryConfiguration GetLifecycleConfiguration GetMetricsConfiguration GetReplicationConfiguration
ListBucket ListBucketMultipartUploads ListBucketVersions PutAccelerateConfiguration PutAnalyticsConfiguration
PutBucketAcl PutBucketCORS PutBucketLogging PutBucketNotification PutBucketObjectLockConfiguration
PutBucketOwnershipControls PutBucketPolicy PutBucketPublicAccessBlock PutBucketRequestPayment PutBucketTagging
PutBucketVersioning PutBucketWebsite PutEncryptionConfiguration PutIntelligentTieringConfiguration
PutInventoryConfiguration PutLifecycleConfiguration PutMetricsConfiguration PutReplicationConfiguration
GetBucketAbac PutBucketAbac CreateBucketMetadataTableConfiguration GetBucketMetadataTableConfiguration
DeleteBucketMetadataTableConfiguration CreateBucketMetadataConfiguration GetBucketMetadataConfiguration
DeleteBucketMetadataConfiguration UpdateBucketMetadataInventoryTableConfiguration
UpdateBucketMetadataJournalTableConfiguration TagResource UntagResource ListTagsForResource
""".split())
# Real S3 actions on other resources (the account, jobs, access points):
# valid names, but they apply to nothing a bucket policy can name.
OTHER_ACTIONS = frozenset("""
ListAllMyBuckets GetAccountPublicAccessBlock PutAccountPublicAccessBlock CreateJob ListJobs DescribeJob
UpdateJobPriority UpdateJobStatus ListAccessPoints CreateAccessPoint DeleteAccessPoint GetAccessPoint
GetAccessPointPolicy PutAccessPointPolicy DeleteAccessPointPolicy ListStorageLensConfigurations
GetStorageLensConfiguration PutStorageLensConfiguration ListMultiRegionAccessPoints PutStorageLensConfigurationTagging
""".split())
_ALL_ACTIONS = {f"s3:{a}".lower(): "object" for a in OBJECT_ACTIONS}
_ALL_ACTIONS.update({f"s3:{a}".lower(): "bucket" for a in BUCKET_ACTIONS})
_ALL_ACTIONS.update({f"s3:{a}".lower(): "other" for a in OTHER_ACTIONS})

_OPERATORS = frozenset("""
StringEquals StringNotEquals StringEqualsIgnoreCase StringNotEqualsIgnoreCase StringLike StringNotLike
NumericEquals NumericNotEquals NumericLessThan NumericLessThanEquals NumericGreaterThan NumericGreaterThanEquals
DateEquals DateNotEquals DateLessThan DateLessThanEquals DateGreaterThan DateGreaterThanEquals Bool BinaryEquals
IpAddress NotIpAddress ArnEquals ArnLike ArnNotEquals ArnNotLike Null
""".split())
_S3_KEYS = frozenset(k.lower() for k in """
s3:authType s3:delimiter s3:max-keys s3:prefix s3:signatureAge s3:signatureversion s3:TlsVersion s3:x-amz-acl
s3:x-amz-content-sha256 s3:x-amz-copy-source s3:x-amz-grant-full-control s3:x-amz-grant-read
s3:x-amz-grant-read-acp s3:x-amz-grant-write s3:x-amz-grant-write-acp s3:x-amz-metadata-directive
s3:x-amz-server-side-encryption s3:x-amz-server-side-encryption-aws-kms-key-id
s3:x-amz-server-side-encryption-customer-algorithm s3:x-amz-storage-class s3:x-amz-website-redirect-location
s3:VersionId s3:RequestObjectTagKeys s3:object-lock-legal-hold s3:object-lock-mode
s3:object-lock-retain-until-date s3:object-lock-remaining-retention-days s3:DataAccessPointArn
s3:DataAccessPointAccount s3:AccessPointNetworkOrigin s3:LocationConstraint s3:ResourceAccount
s3:x-amz-object-ownership s3:if-match s3:if-none-match s3:ObjectCreationOperation s3:x-amz-checksum-algorithm
s3:x-amz-sdk-checksum-algorithm s3:x-amz-server-side-encryption-context s3:BucketArn s3:InventoryAccessibleOptionalFields
s3:ExistingJobPriority s3:ExistingJobOperation s3:RequestJobPriority s3:RequestJobOperation
""".split())
_S3_KEY_PREFIXES = ("s3:existingobjecttag/", "s3:requestobjecttag/", "s3:buckettag/")
# Keys that tie a public-looking statement to fixed callers or places.
_FIXING_KEYS = frozenset(("aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
                          "aws:sourceaccount", "aws:principalorgid", "aws:principalarn", "aws:principalaccount",
                          "aws:userid", "s3:dataaccesspointarn", "s3:dataaccesspointaccount",
                          "aws:principalorgpaths", "aws:principalservicename"))
_FIXING_OPERATORS = ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike")
_ACCOUNT_ID = re.compile(r"\d{12}")


class MalformedPolicy(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _bad(message: str) -> MalformedPolicy:
    return MalformedPolicy(message)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _bad("Invalid policy syntax.")


def check_bucket_policy(text: str, bucket: str) -> dict:
    """Raise MalformedPolicy (with S3's message) unless `text` is a policy
    S3 would store on `bucket`; return the parsed document."""
    if not text[:1] == "{":
        raise _bad("Policies must be valid JSON and the first byte must be '{'")
    try:
        doc = json.loads(text)
    except ValueError:
        raise _bad("This policy contains invalid Json") from None
    if len(json.dumps(doc, separators=(",", ":"))) > MAX_POLICY_BYTES:
        raise _bad(f"Normalized policy document exceeds the maximum allowed size of {MAX_POLICY_BYTES} bytes")
    if not isinstance(doc, dict):
        raise _bad("Policies must be valid JSON and the first byte must be '{'")
    for name, value in doc.items():
        if name == "Version":
            if value not in ("2012-10-17", "2008-10-17"):
                raise _bad("The policy must contain a valid version string")
        elif name == "Id":
            if not isinstance(value, str):
                raise _bad("Invalid policy syntax.")
        elif name != "Statement":
            raise _bad("Invalid policy syntax.")
    if "Statement" not in doc:
        raise _bad("Missing required field Statement")
    statements = doc["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise _bad("Invalid policy syntax.")
    if not statements:
        raise _bad("Could not parse the policy: Statement is empty!")
    for statement in statements:
        _check_statement(statement, bucket)
    return doc


def _check_statement(s, bucket: str) -> None:
    if not isinstance(s, dict):
        raise _bad("Invalid policy syntax.")
    allowed = {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource",
               "Condition"}
    if any(k not in allowed for k in s) or ("Sid" in s and not isinstance(s["Sid"], str)):
        raise _bad("Invalid policy syntax.")
    for a, b in (("Principal", "NotPrincipal"), ("Action", "NotAction"), ("Resource", "NotResource")):
        if a in s and b in s:
            raise _bad("Invalid policy syntax.")
    if "Effect" not in s:
        raise _bad("Missing required field Effect")
    effect = s["Effect"]
    if not isinstance(effect, str):
        raise _bad("Invalid policy syntax.")
    if effect not in ("Allow", "Deny"):
        raise _bad(f"Invalid effect: {effect}")
    if "Principal" not in s and "NotPrincipal" not in s:
        raise _bad("Missing required field Principal")
    _check_principal(s.get("Principal", s.get("NotPrincipal")))
    if "NotPrincipal" in s and effect == "Allow":
        raise _bad("Invalid principal in policy")
    if "Action" not in s and "NotAction" not in s:
        raise _bad("Missing required field Action")
    actions = [a.lower() for a in _strings(s.get("Action", s.get("NotAction")))]
    kinds: set[str] = set()
    for action in actions:
        pattern = "s3:*" if action == "*" else action
        if not pattern.startswith("s3:"):
            raise _bad("Policy has invalid action")
        named = {kind for name, kind in _ALL_ACTIONS.items() if fnmatch.fnmatchcase(name, pattern)}
        if not named:
            raise _bad("Policy has invalid action")
        kinds.add(frozenset(named))
    if "Resource" not in s and "NotResource" not in s:
        raise _bad("Missing required field Resource")
    resources = _strings(s.get("Resource", s.get("NotResource")))
    if not resources:
        raise _bad("Policy has invalid resource")
    for resource in resources:
        _check_resource(resource, bucket)
    if "Action" in s and "Resource" in s:
        reach = set()
        for resource in resources:
            rest = resource[len("arn:aws:s3:::"):]
            if "/" not in rest:
                reach.add("bucket")
            if "/" in rest or "*" in rest:
                reach.add("object")
        if not all(named & reach for named in kinds):
            raise _bad("Action does not apply to any resource(s) in statement")
    if "Condition" in s:
        _check_conditions(s["Condition"])


def _check_principal(element) -> None:
    if element == "*":
        return
    if not isinstance(element, dict) or not element:
        raise _bad("Invalid principal in policy")
    for kind, values in element.items():
        try:
            listed = _strings(values)
        except MalformedPolicy:
            raise _bad("Invalid principal in policy") from None
        if not listed or any(not v for v in listed):
            raise _bad("Invalid principal in policy")
        if kind == "AWS":
            for v in listed:
                if v == "*" or _ACCOUNT_ID.fullmatch(v):
                    continue
                parts = v.split(":", 5)
                if len(parts) != 6 or parts[0] != "arn" or parts[2] not in ("iam", "sts") \
                        or not _ACCOUNT_ID.fullmatch(parts[4]) or not parts[5]:
                    raise _bad("Invalid principal in policy")
        elif kind == "Service":
            if "*" in listed:
                raise _bad("Invalid principal in policy")
        elif kind not in ("CanonicalUser", "Federated"):
            raise _bad("Invalid principal in policy")


def _check_resource(resource: str, bucket: str) -> None:
    if not resource.startswith("arn:aws:s3:::") or len(resource) == len("arn:aws:s3:::"):
        raise _bad("Policy has invalid resource")
    named = resource[len("arn:aws:s3:::"):].split("/", 1)[0]
    if "${" not in named and not fnmatch.fnmatchcase(bucket, named.replace("[", "[[]")):
        raise _bad("Policy has invalid resource")


def _check_conditions(block) -> None:
    if not isinstance(block, dict):
        raise _bad("Invalid policy syntax.")
    for operator, pairs in block.items():
        base = operator
        for prefix in ("ForAllValues:", "ForAnyValue:"):
            if base.startswith(prefix):
                base = base[len(prefix):]
        if base.endswith("IfExists") and base != "IfExists":
            base = base[: -len("IfExists")]
            if base == "Null":
                raise _bad(f"Invalid Condition type : {operator}")
        if base not in _OPERATORS:
            raise _bad(f"Invalid Condition type : {operator}")
        if not isinstance(pairs, dict):
            raise _bad("Invalid policy syntax.")
        for key in pairs:
            low = key.lower()
            if low.startswith("aws:") or low in _S3_KEYS or low.startswith(_S3_KEY_PREFIXES):
                continue
            raise _bad("Policy has an invalid condition key")


def policy_is_public(doc: dict) -> bool:
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    for s in statements or []:
        if s.get("Effect") != "Allow" or "NotPrincipal" in s:
            continue
        principal = s.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))
        if everyone and not _fixed(s.get("Condition") or {}):
            return True
    return False


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _fixed(block: dict) -> bool:
    """Does some condition tie the statement to fixed callers or places?"""
    for operator, pairs in block.items():
        if operator.startswith("ForAllValues:") or operator.endswith("IfExists"):
            continue
        base = operator.split(":", 1)[-1]
        for key, values in pairs.items():
            values = [str(v) for v in _as_list(values)]
            low = key.lower()
            if low == "aws:sourceip":
                if base == "IpAddress" and values and all(_narrow(v) for v in values):
                    return True
            elif low in _FIXING_KEYS and base in _FIXING_OPERATORS and values \
                    and all("*" not in v and "?" not in v and "${" not in v for v in values):
                return True
    return False


def _narrow(cidr: str) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return network.prefixlen >= (8 if network.version == 4 else 32)


class PolicyOps:
    """Mixed into BucketOps."""

    def bucket_policy(self, bucket: str) -> str | None:
        return self.get_config(bucket, POLICY)

    def _policy_bucket(self, ctx, params: dict, method: str):
        """Only the bucket owner's account may touch a bucket policy: others
        get 405 even when a policy would allow them."""
        bucket = self.owned_bucket(ctx, params)
        if ctx.account_id != bucket.account:
            raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                           Method=method, ResourceType="BUCKETPOLICY")
        return bucket

    def PutBucketPolicy(self, ctx, params: dict) -> dict:
        from cloudlet.iam import PolicyError, parse_policy

        bucket = self._policy_bucket(ctx, params, "PUT")
        text = params.get("Policy") or ""
        try:
            doc = check_bucket_policy(text, bucket.name)
            parse_policy(text, "resource")
        except MalformedPolicy as exc:
            raise s3_error("MalformedPolicy", exc.message, 400) from None
        except PolicyError as exc:
            raise s3_error("MalformedPolicy", exc.message, 400) from None
        if self.public_access_block(bucket.name)["BlockPublicPolicy"] and policy_is_public(doc):
            raise s3_error("AccessDenied", f"User: {ctx.principal.arn} is not authorized to perform: "
                                           f's3:PutBucketPolicy on resource: "{bucket.arn}" because public policies '
                                           "are blocked by the BlockPublicPolicy block public access setting.", 403)
        self.put_config(bucket.name, POLICY, text)
        return {}

    def GetBucketPolicy(self, ctx, params: dict) -> dict:
        bucket = self._policy_bucket(ctx, params, "GET")
        text = self.bucket_policy(bucket.name)
        if text is None:
            raise no_such_policy(bucket.name)
        return {"Policy": text}

    def DeleteBucketPolicy(self, ctx, params: dict) -> dict:
        bucket = self._policy_bucket(ctx, params, "DELETE")
        self.delete_config(bucket.name, POLICY)
        return {}

    def GetBucketPolicyStatus(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        text = self.bucket_policy(bucket.name)
        if text is None:
            raise no_such_policy(bucket.name)
        return {"PolicyStatus": {"IsPublic": policy_is_public(json.loads(text))}}

    # -- Block Public Access ---------------------------------------------------------

    def PutPublicAccessBlock(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        given = params.get("PublicAccessBlockConfiguration") or {}
        if not any(k in given for k in _PAB_FIELDS):
            raise s3_error("InvalidRequest", "Must specify at least one configuration.", 400)
        self.put_config(bucket.name, PUBLIC_ACCESS_BLOCK, {k: bool(given.get(k)) for k in _PAB_FIELDS})
        return {}

    def GetPublicAccessBlock(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        found = self.get_config(bucket.name, PUBLIC_ACCESS_BLOCK)
        if found is None:
            raise s3_error("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not "
                                                                   "found", 404, BucketName=bucket.name)
        return {"PublicAccessBlockConfiguration": found}

    def DeletePublicAccessBlock(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, PUBLIC_ACCESS_BLOCK)
        return {}


def no_such_policy(bucket: str):
    return s3_error("NoSuchBucketPolicy", "The bucket policy does not exist", 404, BucketName=bucket)
