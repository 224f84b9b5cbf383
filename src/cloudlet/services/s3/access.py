"""Who may do what in S3: the authorization hooks the gateway's
Authorizer calls on the provider (see cloudlet.gateway.authorize).

- authz_action: the IAM action of each operation, from the Service
  Authorization Reference's S3 page (HeadObject is s3:GetObject,
  ListObjectsV2 s3:ListBucket, multipart writes s3:PutObject, ...).
  `authz_action_params` refines it with the request (a VersionId makes
  GetObject s3:GetObjectVersion) for an authorizer that asks.
- authz_resources: the bucket ARN or the object ARN.
- resource_policy: the bucket policy and the bucket owner's account, so the
  engine applies AWS's same-account / cross-account rules. A bucket with no
  policy answers a policy that grants nothing when the caller is of
  another account (or anonymous): S3 ARNs name no account, so that is how
  the engine learns the bucket is someone else's. RestrictPublicBuckets
  takes a public policy away from callers outside the owner's account; the
  owner's root user may always read, write and delete the policy itself.
- authz_grant: bucket (and object) ACLs, which may allow what the policies
  left undecided, unless Object Ownership has switched ACLs off.
- authz_context: S3's condition keys.

`authorize_object` is for the checks an operation implies beyond the
gateway's one (CopyObject's source, each key of DeleteObjects).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from cloudlet.errors import AwsError
from cloudlet.services.s3.acl import acl_permits
from cloudlet.services.s3.bucketpolicy import policy_is_public
from cloudlet.services.s3.common import canonical_id, s3_error

# A resource policy that applies to nothing: it tells the engine whose the
# bucket is (its account), and grants no one anything.
NO_GRANT_POLICY = ('{"Version":"2012-10-17","Statement":[{"Sid":"BucketOwnerOnly","Effect":"Deny",'
                   '"Principal":"*","NotAction":"*","Resource":"*"}]}')

# Operations whose action is not "s3:<Operation>".
_ACTIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListDirectoryBuckets": "s3express:ListAllMyDirectoryBuckets",
    "CreateSession": "s3express:CreateSession",
    "HeadObject": "s3:GetObject",
    "SelectObjectContent": "s3:GetObject",
    "CopyObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "ListParts": "s3:ListMultipartUploadParts",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "DeleteBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketLifecycle": "s3:GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycle": "s3:PutLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketNotification": "s3:GetBucketNotification",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotification": "s3:PutBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "PutBucketReplication": "s3:PutReplicationConfiguration",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "PutBucketAccelerateConfiguration": "s3:PutAccelerateConfiguration",
    "GetBucketAnalyticsConfiguration": "s3:GetAnalyticsConfiguration",
    "ListBucketAnalyticsConfigurations": "s3:GetAnalyticsConfiguration",
    "PutBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "DeleteBucketAnalyticsConfiguration": "s3:PutAnalyticsConfiguration",
    "GetBucketMetricsConfiguration": "s3:GetMetricsConfiguration",
    "ListBucketMetricsConfigurations": "s3:GetMetricsConfiguration",
    "PutBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "DeleteBucketMetricsConfiguration": "s3:PutMetricsConfiguration",
    "GetBucketInventoryConfiguration": "s3:GetInventoryConfiguration",
    "ListBucketInventoryConfigurations": "s3:GetInventoryConfiguration",
    "PutBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "DeleteBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "GetBucketIntelligentTieringConfiguration": "s3:GetIntelligentTieringConfiguration",
    "ListBucketIntelligentTieringConfigurations": "s3:GetIntelligentTieringConfiguration",
    "PutBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "DeleteBucketIntelligentTieringConfiguration": "s3:PutIntelligentTieringConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetObjectAttributes": "s3:GetObjectAttributes",
    "DeleteObjects": "",  # each key is authorized as s3:DeleteObject by the handler (authorize_object)
    "WriteGetObjectResponse": "s3-object-lambda:WriteGetObjectResponse",
}
# With a VersionId these act on one version, and AWS names that action.
_VERSIONED = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
    "s3:GetObjectTorrent": "s3:GetObjectVersionTorrent",
}
_NO_RESOURCE = ("ListBuckets", "ListDirectoryBuckets", "CreateSession", "WriteGetObjectResponse")
_OWNER_ROOT_ALWAYS = ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy")
# The ACL permission an action needs, on the bucket or on the object.
_BUCKET_ACL = {"s3:ListBucket": "READ", "s3:ListBucketVersions": "READ", "s3:ListBucketMultipartUploads": "READ",
               "s3:GetBucketAcl": "READ_ACP", "s3:PutBucketAcl": "WRITE_ACP", "s3:PutObject": "WRITE",
               "s3:DeleteObject": "WRITE", "s3:DeleteObjectVersion": "WRITE", "s3:AbortMultipartUpload": "WRITE"}
_OBJECT_ACL = {"s3:GetObject": "READ", "s3:GetObjectVersion": "READ", "s3:GetObjectTorrent": "READ",
               "s3:GetObjectAcl": "READ_ACP", "s3:GetObjectVersionAcl": "READ_ACP",
               "s3:PutObjectAcl": "WRITE_ACP", "s3:PutObjectVersionAcl": "WRITE_ACP"}
# Request members -> S3 condition keys.
_CONTEXT_PARAMS = {
    "Prefix": "s3:prefix", "Delimiter": "s3:delimiter", "MaxKeys": "s3:max-keys", "ACL": "s3:x-amz-acl",
    "GrantFullControl": "s3:x-amz-grant-full-control", "GrantRead": "s3:x-amz-grant-read",
    "GrantReadACP": "s3:x-amz-grant-read-acp", "GrantWrite": "s3:x-amz-grant-write",
    "GrantWriteACP": "s3:x-amz-grant-write-acp", "ServerSideEncryption": "s3:x-amz-server-side-encryption",
    "SSEKMSKeyId": "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "SSECustomerAlgorithm": "s3:x-amz-server-side-encryption-customer-algorithm",
    "StorageClass": "s3:x-amz-storage-class", "CopySource": "s3:x-amz-copy-source",
    "MetadataDirective": "s3:x-amz-metadata-directive",
    "WebsiteRedirectLocation": "s3:x-amz-website-redirect-location", "VersionId": "s3:VersionId",
    "ObjectLockMode": "s3:object-lock-mode", "ObjectLockLegalHoldStatus": "s3:object-lock-legal-hold",
    "ObjectOwnership": "s3:x-amz-object-ownership", "IfMatch": "s3:if-match", "IfNoneMatch": "s3:if-none-match",
}
_EXISTING_TAG_OPS = ("GetObject", "HeadObject", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging",
                     "GetObjectAcl", "PutObjectAcl", "GetObjectAttributes", "DeleteObject", "CopyObject")


def bucket_of(resource: str) -> str | None:
    if not resource.startswith("arn:aws:s3:::"):
        return None
    return resource[len("arn:aws:s3:::"):].split("/", 1)[0]


class S3Access:
    """Mixed into S3Service."""

    def check_input(self, op, params: dict, request) -> None:
        """Replaces the gateway's model validation for S3 (inputcheck.py)."""
        from cloudlet.services.s3.inputcheck import check_input

        check_input(op, params, request)

    def authz_action(self, operation: str) -> str | None:
        return _ACTIONS.get(operation)

    def authz_action_params(self, ctx, operation: str, params: dict) -> str | None:
        """The action of this very request (a VersionId picks the version
        action); for an authorizer that asks before `authz_action`."""
        action = _ACTIONS.get(operation, f"s3:{operation}")
        if params.get("VersionId") is not None and operation != "CopyObject":
            return _VERSIONED.get(action, action)
        return action

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        if operation in _NO_RESOURCE or not params.get("Bucket"):
            return ["*"]
        bucket = params["Bucket"]
        if params.get("Key") is not None and operation not in ("DeleteObjects",):
            return [f"arn:aws:s3:::{bucket}/{params['Key']}"]
        return [f"arn:aws:s3:::{bucket}"]

    def _authz_bucket(self, ctx, name: str):
        """The bucket a check is about, read once per request."""
        cache = ctx.extra.setdefault("s3_authz_buckets", {})
        if name not in cache:
            cache[name] = self.find_bucket(name)
        return cache[name]

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        name = bucket_of(resource)
        if name is None or operation == "CreateBucket":
            return None
        bucket = self._authz_bucket(ctx, name)
        if bucket is None:
            return None  # the handler answers NoSuchBucket
        principal = ctx.principal
        same_account = principal.type != "Anonymous" and principal.account_id == bucket.account
        if operation in _OWNER_ROOT_ALWAYS and principal.is_root and same_account:
            return None  # no policy can lock its bucket's owner out of the policy
        policy = self.get_config(name, "policy")
        if policy is not None and not same_account and principal.type != "AWSService" \
                and self.public_access_block(name)["RestrictPublicBuckets"] and _is_public(policy):
            policy = None  # RestrictPublicBuckets: a public policy serves only the owner's account
        if policy is not None:
            return policy, bucket.account
        if same_account:
            return None
        return NO_GRANT_POLICY, bucket.account

    def authz_grant(self, ctx, operation: str, params: dict, resource: str) -> bool:
        action = self.authz_action_params(ctx, operation, params) or ""
        return self._acl_grant(ctx, operation, params, action, resource)

    def _acl_grant(self, ctx, operation: str, params: dict, action: str, resource: str) -> bool:
        """Do the bucket's (or object's) ACL grants allow this, ACLs being on?"""
        name = bucket_of(resource)
        bucket = self._authz_bucket(ctx, name) if name else None
        if bucket is None or self.bucket_ownership(name) == "BucketOwnerEnforced":
            return False
        object_level = "/" in resource[len("arn:aws:s3:::"):]
        permission = (_OBJECT_ACL if object_level else {}).get(action) or _BUCKET_ACL.get(action)
        if permission is None:
            return False
        if object_level and action in _OBJECT_ACL:
            reader = getattr(self, "object_acl", None)  # the objects helper's, if any
            key = resource[len("arn:aws:s3:::") + len(name) + 1:]
            grants = reader(name, key, params.get("VersionId")) if reader else None
        else:
            grants = self.bucket_acl(bucket)["Grants"]
        if not grants:
            return False
        principal = ctx.principal
        anonymous = principal.type == "Anonymous"
        cid = None if anonymous else canonical_id(principal.account_id)
        ignore_public = self.public_access_block(name)["IgnorePublicAcls"]
        if not acl_permits(grants, permission, cid, not anonymous, ignore_public):
            return False
        if anonymous or principal.is_root or principal.type == "AWSService":
            return True
        # An IAM identity still needs its own account's permission.
        decision = self.cloud.authorizer.decide(ctx, self, ctx.op_model, params, action, resource, None)
        return decision.allowed

    def authz_context(self, ctx, operation: str, params: dict) -> dict:
        out: dict = {}
        for member, key in _CONTEXT_PARAMS.items():
            value = params.get(member)
            if value is not None:
                out[key] = value
        if params.get("ObjectLockRetainUntilDate") is not None:
            from cloudlet.protocol.common import iso8601

            out["s3:object-lock-retain-until-date"] = iso8601(params["ObjectLockRetainUntilDate"])
        request = ctx.request
        if (request.header("x-forwarded-proto") or "").lower() == "https":
            out["aws:SecureTransport"] = True
        sha = request.header("x-amz-content-sha256")
        if sha:
            out["s3:x-amz-content-sha256"] = sha
        if ctx.principal.type not in ("Anonymous", "AWSService") and ctx.protocol != "internal":
            if request.header("authorization"):
                auth = request.header("authorization")
                out["s3:authType"] = "REST-HEADER"
                out["s3:signatureversion"] = "AWS4-HMAC-SHA256" if auth.startswith("AWS4-") else "AWS"
            elif ctx.extra.get("s3_post"):  # a browser upload's signed policy (postobject.py)
                out["s3:authType"] = "POST"
                out["s3:signatureversion"] = ctx.extra["s3_post"]
            elif request.query_string:
                out["s3:authType"] = "REST-QUERY-STRING"
                out["s3:signatureversion"] = "AWS4-HMAC-SHA256" if "X-Amz-Credential" in request.query else "AWS"
        tagging = params.get("Tagging")
        tags = None
        if isinstance(tagging, str):
            tags = dict(parse_qsl(tagging, keep_blank_values=True))
        elif isinstance(tagging, dict):
            tags = {t.get("Key"): t.get("Value", "") for t in tagging.get("TagSet") or []}
        if tags is not None:
            for k, v in tags.items():
                out[f"s3:RequestObjectTag/{k}"] = v
            out["s3:RequestObjectTagKeys"] = list(tags)
        name = params.get("Bucket")
        bucket = self._authz_bucket(ctx, name) if name else None
        if bucket is not None:
            out["s3:ResourceAccount"] = bucket.account
            if operation in _EXISTING_TAG_OPS and params.get("Key") is not None:
                out.update(self._existing_tags(bucket.name, params["Key"], params.get("VersionId")))
        if operation == "CreateBucket":
            location = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
            if location:
                out["s3:LocationConstraint"] = location
        return out

    def _existing_tags(self, bucket: str, key: str, version_id: str | None) -> dict:
        found = self.version(bucket, key, version_id) if version_id else self.latest(bucket, key)
        if found is None or found.delete_marker:
            return {}
        return {f"s3:ExistingObjectTag/{k}": v for k, v in (found.tags or {}).items()}

    def authz_denial(self, ctx, action: str, resource: str, decision) -> AwsError:
        """S3's AccessDenied: the reason, with the resource quoted, for a
        caller of the bucket owner's account; plain "Access Denied" for
        anyone else (S3 explains denials only within the account)."""
        principal = ctx.principal
        name = bucket_of(resource)
        bucket = self._authz_bucket(ctx, name) if name else None
        if principal.type == "Anonymous" or (bucket is not None and bucket.account != principal.account_id):
            return s3_error("AccessDenied", "Access Denied", 403)
        where = f' on resource: "{resource}"' if resource != "*" else ""
        return s3_error("AccessDenied", f"User: {principal.arn} is not authorized to perform: {action}{where} "
                                        f"{decision.reason(action)}", 403)

    # -- checks an operation implies -------------------------------------------------

    def authorize_object(self, ctx, action: str, bucket: str, key: str, params: dict | None = None) -> None:
        """Raise AccessDenied unless the caller may do `action` on one object
        (CopyObject's source: s3:GetObject or s3:GetObjectVersion; each key of
        DeleteObjects: s3:DeleteObject)."""
        params = params if params is not None else {}
        resource = f"arn:aws:s3:::{bucket}/{key}"
        self._require(ctx, action, resource, params)

    def authorize_bucket(self, ctx, action: str, bucket: str, params: dict | None = None) -> None:
        self._require(ctx, action, f"arn:aws:s3:::{bucket}", params if params is not None else {})

    def _require(self, ctx, action: str, resource: str, params: dict) -> None:
        authorizer = self.cloud.authorizer
        if authorizer.mode == "off":
            return
        operation = ctx.operation
        policy = self.resource_policy(ctx, operation, resource, params)
        principal = ctx.principal
        if principal.is_root and policy is None:
            return  # the root user in its own account, no policy to deny it
        authorizer.require(ctx, self, ctx.op_model, params, action, resource, policy,
                           grant=lambda: self._acl_grant(ctx, operation, params, action, resource))

    def object_access_error(self, ctx, action: str, bucket: str, key: str, params: dict | None = None) \
            -> AwsError | None:
        """authorize_object's answer as a value (DeleteObjects reports each
        key's denial in its result instead of failing the call)."""
        try:
            self.authorize_object(ctx, action, bucket, key, params)
        except AwsError as err:
            return err
        return None


def _is_public(policy: str) -> bool:
    import json

    try:
        return policy_is_public(json.loads(policy))
    except ValueError:
        return False
