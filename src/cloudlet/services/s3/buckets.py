"""Buckets: create, look up, list, delete; and, through the mixins this
class gathers, every bucket configuration (bucketconfig.py, acl.py,
bucketpolicy.py, lifecyclerules.py, notifyconfig.py, reportconfigs.py).

A new bucket starts as AWS starts one since April 2023: Object Ownership
"BucketOwnerEnforced" (ACLs off) and all four Block Public Access settings
on, each stored as a real configuration row (Get answers it, Delete
removes it). Bucket names are one namespace for every account.
"""

from __future__ import annotations

import base64
import re

from cloudlet.errors import AwsError
from cloudlet.services.s3.acl import AclOps, grants_from_request, is_public_grant
from cloudlet.services.s3.bucketconfig import BucketConfigOps, validate_tags
from cloudlet.services.s3.bucketpolicy import PolicyOps
from cloudlet.services.s3.common import Bucket, owner, s3_error
from cloudlet.services.s3.lifecyclerules import LifecycleOps
from cloudlet.services.s3.notifyconfig import NotificationOps
from cloudlet.services.s3.reportconfigs import ReportConfigOps

# Configuration kinds (rows of s3_bucket_configs).
LOCATION = "location"            # the LocationConstraint as given ("EU"), when it differs from the region
OWNERSHIP = "ownership"
PUBLIC_ACCESS_BLOCK = "public_access_block"
ACL = "acl"
TAGGING = "tagging"

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ACCOUNT_ID = re.compile(r"\d{12}")
_OWNERSHIPS = ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced")
MAX_BUCKETS_PAGE = 10000
DEFAULT_PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                               "RestrictPublicBuckets": True}


def valid_bucket_name(name: str) -> bool:
    """The general purpose bucket naming rules of the S3 User Guide."""
    return bool(_NAME.fullmatch(name)) and ".." not in name and not _IP.fullmatch(name) \
        and not name.startswith(_RESERVED_PREFIXES) and not name.endswith(_RESERVED_SUFFIXES)


def invalid_bucket_name(name: str) -> AwsError:
    return s3_error("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=name)


def region_of(location: str) -> str:
    """The region a LocationConstraint names ("EU" is eu-west-1's old name)."""
    return "eu-west-1" if location == "EU" else location


class BucketOps(BucketConfigOps, AclOps, PolicyOps, LifecycleOps, NotificationOps, ReportConfigOps):
    """Mixed into S3Service."""

    # -- lookups other modules use -------------------------------------------

    def owned_bucket(self, ctx, params: dict) -> Bucket:
        """The bucket a request names (NoSuchBucket), held to the request's
        x-amz-expected-bucket-owner as S3 holds it."""
        expected = params.get("ExpectedBucketOwner")
        if expected is not None and not _ACCOUNT_ID.fullmatch(expected):
            raise s3_error("InvalidBucketOwnerAWSAccountID",
                           f"The value of the expected bucket owner parameter must be an AWS Account ID... "
                           f"[{expected}]", 400)
        name = params["Bucket"]
        bucket = ctx.extra.get("s3_authz_buckets", {}).get(name)  # read by the authorizer already
        if bucket is None:
            bucket = self.bucket(ctx, name)
        if expected is not None and expected != bucket.account:
            raise s3_error("AccessDenied", "Access Denied", 403)
        return bucket

    def bucket_ownership(self, bucket: str) -> str:
        """The bucket's Object Ownership; "ObjectWriter" once its controls
        are deleted (as on AWS)."""
        found = self.get_config(bucket, OWNERSHIP)
        return found["Rules"][0]["ObjectOwnership"] if found else "ObjectWriter"

    def public_access_block(self, bucket: str) -> dict:
        """The four Block Public Access settings (all False when deleted)."""
        found = self.get_config(bucket, PUBLIC_ACCESS_BLOCK) or {}
        return {k: bool(found.get(k)) for k in DEFAULT_PUBLIC_ACCESS_BLOCK}

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        found = self.get_config(bucket, TAGGING) or []
        return {t["Key"]: t["Value"] for t in found}

    # -- CreateBucket ---------------------------------------------------------

    def CreateBucket(self, ctx, params: dict) -> dict:
        try:
            return self._create_bucket(ctx, params)
        finally:
            self.forget_bucket(params["Bucket"])  # (cached rows: see S3Common.find_bucket)

    def _create_bucket(self, ctx, params: dict) -> dict:
        name = params["Bucket"]
        if not valid_bucket_name(name):
            raise invalid_bucket_name(name)
        config = params.get("CreateBucketConfiguration") or {}
        region = self._creation_region(ctx, config)
        ownership = params.get("ObjectOwnership")
        if ownership is not None and ownership not in _OWNERSHIPS:
            raise s3_error("InvalidArgument", f"Invalid x-amz-object-ownership header: {ownership}", 400,
                           ArgumentName="x-amz-object-ownership")
        account = ctx.account_id
        grants = grants_from_request(params, account, bucket=True)  # None: no ACL in the request
        if grants is not None:
            if params.get("ACL") == "private" and not _explicit_grants(params):
                # AWS accepts "private" (rclone sends it) and then prefers
                # the owner without switching ACLs off.
                ownership = ownership or "BucketOwnerPreferred"
            elif (ownership or "BucketOwnerEnforced") == "BucketOwnerEnforced":
                raise s3_error("InvalidBucketAclWithObjectOwnership",
                               "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
            if any(is_public_grant(g) for g in grants):
                raise s3_error("InvalidBucketAclWithBlockPublicAccessError",
                               "Bucket cannot have public ACLs set with BlockPublicAccess enabled", 400)
        tags = config.get("Tags")
        if tags is not None:
            validate_tags(tags, "create-bucket")
        existing = self.find_bucket(name)
        if existing is not None:
            if existing.account != account:
                raise s3_error("BucketAlreadyExists", "The requested bucket name is not available. The bucket "
                               "namespace is shared by all users of the system. Please select a different name "
                               "and try again.", 409, BucketName=name)
            if region != "us-east-1" or existing.region != "us-east-1":
                raise s3_error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                               "succeeded and you already own it.", 409, BucketName=name)
            # us-east-1's legacy: 200, and the ACL is reset to the request's.
            self.put_config(name, ACL, {"Owner": owner(account), "Grants": grants or _private(account)})
            return {"Location": f"/{name}"}
        self._authorize_creation_extras(ctx, params, name, ownership)
        location = config.get("LocationConstraint")
        with self.storage.tx():
            self.storage.execute("INSERT INTO s3_buckets (name, account, region, created, versioning, object_lock) "
                                 "VALUES (?, ?, ?, ?, ?, ?)",
                                 (name, account, region, ctx.now(),
                                  "Enabled" if params.get("ObjectLockEnabledForBucket") else "",
                                  1 if params.get("ObjectLockEnabledForBucket") else 0))
            if location and location != region:
                self.put_config(name, LOCATION, location)
            self.put_config(name, OWNERSHIP, {"Rules": [{"ObjectOwnership": ownership or "BucketOwnerEnforced"}]})
            self.put_config(name, PUBLIC_ACCESS_BLOCK, dict(DEFAULT_PUBLIC_ACCESS_BLOCK))
            self.put_config(name, ACL, {"Owner": owner(account), "Grants": grants or _private(account)})
            if tags:
                self.put_config(name, TAGGING, tags)
        if region == "us-east-1":
            return {"Location": f"/{name}"}
        return {"Location": f"http://{name}.s3.amazonaws.com/"}

    @staticmethod
    def _creation_region(ctx, config: dict) -> str:
        """The region a new bucket goes to, by the rules of the endpoint the
        request was sent to (its signing region): us-east-1 takes no
        LocationConstraint of its own and places buckets anywhere; any other
        region takes only its own."""
        if config.get("Bucket") or config.get("Location"):
            raise s3_error("InvalidRequest", "Directory buckets (Bucket Type 'Directory') are created through "
                                             "the S3 Express One Zone zonal endpoints, not this endpoint.", 400)
        location = config.get("LocationConstraint")
        endpoint = ctx.region
        if not location:
            if endpoint != "us-east-1":
                raise s3_error("IllegalLocationConstraintException", "The unspecified location constraint is "
                               "incompatible for the region specific endpoint this request was sent to.", 400)
            return "us-east-1"
        if location != "EU" and not _REGION.fullmatch(location) or location == "us-east-1" and endpoint == "us-east-1":
            raise s3_error("InvalidLocationConstraint", "The specified location-constraint is not valid", 400,
                           LocationConstraint=location)
        region = region_of(location)
        if endpoint != "us-east-1" and region != endpoint:
            raise s3_error("IllegalLocationConstraintException", f"The {location} location constraint is "
                           "incompatible for the region specific endpoint this request was sent to.", 400)
        return region

    def _authorize_creation_extras(self, ctx, params: dict, name: str, ownership: str | None) -> None:
        """What a CreateBucket also sets needs its own permission, as on AWS
        (object lock: s3:PutBucketObjectLockConfiguration and
        s3:PutBucketVersioning; ownership; an ACL; tags)."""
        needed = []
        if params.get("ObjectLockEnabledForBucket"):
            needed += ["s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"]
        if params.get("ObjectOwnership"):
            needed.append("s3:PutBucketOwnershipControls")
        if params.get("ACL") or _explicit_grants(params):
            needed.append("s3:PutBucketAcl")
        if (params.get("CreateBucketConfiguration") or {}).get("Tags"):
            needed.append("s3:PutBucketTagging")
        for action in needed:
            self.cloud.authorizer.require(ctx, self, ctx.op_model, params, action, f"arn:aws:s3:::{name}", None)

    # -- lookups ----------------------------------------------------------------

    def HeadBucket(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        return {"BucketRegion": bucket.region, "AccessPointAlias": False}

    def GetBucketLocation(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        location = self.get_config(bucket.name, LOCATION)
        if location is None:
            location = "" if bucket.region == "us-east-1" else bucket.region
        return {"LocationConstraint": location}

    def ListBuckets(self, ctx, params: dict) -> dict:
        limit = params.get("MaxBuckets")
        if limit is not None and not 1 <= limit <= MAX_BUCKETS_PAGE:
            raise s3_error("InvalidArgument", f"Argument max-buckets must be an integer between 1 and "
                           f"{MAX_BUCKETS_PAGE}", 400, ArgumentName="max-buckets", ArgumentValue=limit)
        token = params.get("ContinuationToken")
        after = ""
        if token is not None:
            after = _decode_token(token)
        prefix = params.get("Prefix") or ""
        region = params.get("BucketRegion")
        sql = "SELECT name, created, region FROM s3_buckets WHERE account = ? AND name > ?"
        args: list = [ctx.account_id, after]
        if prefix:
            sql += " AND substr(name, 1, ?) = ?"
            args += [len(prefix), prefix]
        if region:
            sql += " AND region = ?"
            args.append(region)
        page = limit or MAX_BUCKETS_PAGE
        rows = self.storage.all(sql + " ORDER BY name LIMIT ?", (*args, page + 1))
        out: dict = {"Buckets": [{"Name": n, "CreationDate": c, "BucketRegion": r} for n, c, r in rows[:page]],
                     "Owner": owner(ctx.account_id)}
        if len(rows) > page:
            out["ContinuationToken"] = _encode_token(rows[page - 1][0])
        if params.get("Prefix") is not None:
            out["Prefix"] = params["Prefix"]
        return out

    # -- DeleteBucket -------------------------------------------------------------

    def DeleteBucket(self, ctx, params: dict) -> dict:
        try:
            return self._delete_bucket(ctx, params)
        finally:
            self.forget_bucket(params["Bucket"])
            self.forget_object()

    def _delete_bucket(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        name = bucket.name
        if self.storage.one("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", (name,)) is not None:
            message = "The bucket you tried to delete is not empty"
            if bucket.versioning:
                message += ". You must delete all versions in the bucket."
            raise s3_error("BucketNotEmpty", message, 409, BucketName=name)
        with self.storage.tx():
            # Uploads in progress do not keep a bucket alive on AWS: they go
            # with it (their parts' files once this commits).
            parts = self.storage.all("SELECT p.blob, p.size FROM s3_parts p JOIN s3_uploads u "
                                     "ON p.upload_id = u.upload_id WHERE u.bucket = ?", (name,))
            self.discard_pieces([list(p) for p in parts])
            self.storage.execute("DELETE FROM s3_parts WHERE upload_id IN "
                                 "(SELECT upload_id FROM s3_uploads WHERE bucket = ?)", (name,))
            self.storage.execute("DELETE FROM s3_uploads WHERE bucket = ?", (name,))
            self.storage.execute("DELETE FROM s3_bucket_configs WHERE bucket = ?", (name,))
            self.storage.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))
        return {}


def _explicit_grants(params: dict) -> bool:
    return any(params.get(k) for k in ("GrantFullControl", "GrantRead", "GrantReadACP", "GrantWrite",
                                       "GrantWriteACP"))


def _private(account: str) -> list[dict]:
    from cloudlet.services.s3.acl import owner_full_control

    return owner_full_control(account)


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(b"b1:" + name.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (ValueError, TypeError):
        raw = b""
    if not raw.startswith(b"b1:"):
        raise s3_error("InvalidArgument", "The continuation token provided is incorrect", 400,
                       ArgumentName="continuation-token")
    return raw[3:].decode("utf-8", "replace")
