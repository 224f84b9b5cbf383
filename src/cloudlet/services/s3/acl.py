"""Access control lists and Object Ownership.

An ACL is stored as S3 returns it: {"Owner": {"ID"}, "Grants": [{"Grantee":
{"Type", "ID" | "URI"}, "Permission"}]}. It comes from a canned ACL
(x-amz-acl), from grant headers (x-amz-grant-read: id="...", uri="..."),
or from an AccessControlPolicy document. With Object Ownership
"BucketOwnerEnforced" (the default) ACLs are off: only the owner's full
control may be set, and reading one answers exactly that.

The objects helper uses `grants_from_request` and `check_object_acl` for
PutObject / CopyObject / CreateMultipartUpload / PutObjectAcl.
"""

from __future__ import annotations

import re

from cloudlet.services.s3.common import canonical_id, owner, s3_error

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
BUCKET_CANNED = ("private", "public-read", "public-read-write", "authenticated-read", "log-delivery-write")
OBJECT_CANNED = ("private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                 "bucket-owner-read", "bucket-owner-full-control")
_GRANT_HEADERS = {"GrantFullControl": ("FULL_CONTROL", "x-amz-grant-full-control"),
                  "GrantRead": ("READ", "x-amz-grant-read"),
                  "GrantReadACP": ("READ_ACP", "x-amz-grant-read-acp"),
                  "GrantWrite": ("WRITE", "x-amz-grant-write"),
                  "GrantWriteACP": ("WRITE_ACP", "x-amz-grant-write-acp")}
_CANONICAL = re.compile(r"[0-9a-f]{64}")
OWNERSHIP = "ownership"
ACL = "acl"


def user_grant(cid: str, permission: str) -> dict:
    return {"Grantee": {"Type": "CanonicalUser", "ID": cid}, "Permission": permission}


def group_grant(uri: str, permission: str) -> dict:
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def owner_full_control(account: str) -> list[dict]:
    return [user_grant(canonical_id(account), "FULL_CONTROL")]


def is_public_grant(grant: dict) -> bool:
    return grant.get("Grantee", {}).get("URI") in (ALL_USERS, AUTHENTICATED_USERS)


def canned_grants(acl: str, account: str, bucket_owner: str | None = None) -> list[dict]:
    """The grants a canned ACL stands for; `account` owns the resource,
    `bucket_owner` owns the bucket an object is in."""
    grants = owner_full_control(account)
    if acl in ("public-read", "public-read-write"):
        grants.append(group_grant(ALL_USERS, "READ"))
    if acl == "public-read-write":
        grants.append(group_grant(ALL_USERS, "WRITE"))
    if acl == "authenticated-read":
        grants.append(group_grant(AUTHENTICATED_USERS, "READ"))
    if acl == "log-delivery-write":
        grants += [group_grant(LOG_DELIVERY, "WRITE"), group_grant(LOG_DELIVERY, "READ_ACP")]
    if acl in ("bucket-owner-read", "bucket-owner-full-control") and bucket_owner and bucket_owner != account:
        grants.append(user_grant(canonical_id(bucket_owner),
                                 "READ" if acl == "bucket-owner-read" else "FULL_CONTROL"))
    return grants


def _header_grants(params: dict) -> list[dict]:
    grants: list[dict] = []
    for member, (permission, header) in _GRANT_HEADERS.items():
        value = params.get(member)
        if not value:
            continue
        for item in value.split(","):
            item = item.strip()
            kind, sep, raw = item.partition("=")
            kind = kind.strip()
            raw = raw.strip().strip('"')
            if not sep or kind not in ("id", "uri", "emailAddress"):
                raise s3_error("InvalidArgument", "Argument format not recognized", 400, ArgumentName=header,
                               ArgumentValue=item)
            if kind == "uri":
                if raw not in GROUPS:
                    raise s3_error("InvalidArgument", "Invalid group uri", 400, ArgumentName="uri",
                                   ArgumentValue=raw)
                grants.append(group_grant(raw, permission))
            elif kind == "id":
                if not _CANONICAL.fullmatch(raw):
                    raise s3_error("InvalidArgument", "Invalid id", 400, ArgumentName="id", ArgumentValue=raw)
                grants.append(user_grant(raw, permission))
            else:
                raise unresolvable_email(raw)
    return grants


def unresolvable_email(address: str):
    return s3_error("UnresolvableGrantByEmailAddress",
                    "The e-mail address you provided does not match any account on record.", 400,
                    EmailAddress=address)


def grants_from_request(params: dict, account: str, bucket: bool, bucket_owner: str | None = None) -> list | None:
    """The grants of a request's canned ACL or grant headers; None when it
    names no ACL. `account` is the resource owner's."""
    canned = params.get("ACL")
    explicit = any(params.get(m) for m in _GRANT_HEADERS)
    if canned and explicit:
        raise s3_error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed", 400)
    if canned:
        allowed = BUCKET_CANNED if bucket else OBJECT_CANNED
        if canned not in allowed:
            raise s3_error("InvalidArgument", "", 400, ArgumentName="x-amz-acl", ArgumentValue=canned)
        return canned_grants(canned, account, bucket_owner)
    if explicit:
        return _header_grants(params)
    return None


def grants_from_policy(document: dict) -> list[dict]:
    """The grants of an AccessControlPolicy document, checked as S3 checks
    them."""
    if not isinstance(document, dict) or "Owner" not in document or "Grants" not in document:
        raise malformed_acl()
    out = []
    for grant in document.get("Grants") or []:
        permission = grant.get("Permission")
        grantee = grant.get("Grantee") or {}
        kind = grantee.get("Type")
        if permission not in PERMISSIONS or kind not in ("CanonicalUser", "Group", "AmazonCustomerByEmail"):
            raise malformed_acl()
        if kind == "CanonicalUser":
            cid = grantee.get("ID") or ""
            if not _CANONICAL.fullmatch(cid):
                raise s3_error("InvalidArgument", "Invalid id", 400, ArgumentName="CanonicalUser/ID",
                               ArgumentValue=cid)
            out.append(user_grant(cid, permission))
        elif kind == "Group":
            uri = grantee.get("URI") or ""
            if uri not in GROUPS:
                raise s3_error("InvalidArgument", "Invalid group uri", 400, ArgumentName="Group/URI",
                               ArgumentValue=uri)
            out.append(group_grant(uri, permission))
        else:
            raise unresolvable_email(grantee.get("EmailAddress") or "")
    return out


def malformed_acl():
    return s3_error("MalformedACLError", "The XML you provided was not well-formed or did not validate against "
                                         "our published schema", 400)


def only_owner_full_control(grants: list[dict], account: str) -> bool:
    return all(g["Permission"] == "FULL_CONTROL" and g["Grantee"].get("ID") == canonical_id(account)
               for g in grants)


def acl_permits(grants: list[dict], permission: str, cid: str | None, authenticated: bool,
                ignore_public: bool = False) -> bool:
    """Does an ACL give `permission` to a caller (canonical id `cid`, None
    for anonymous)? FULL_CONTROL implies every permission."""
    for grant in grants:
        if grant["Permission"] not in (permission, "FULL_CONTROL"):
            continue
        grantee = grant["Grantee"]
        uri = grantee.get("URI")
        if uri == ALL_USERS or (uri == AUTHENTICATED_USERS and authenticated):
            if not ignore_public:
                return True
        elif cid is not None and grantee.get("ID") == cid:
            return True
    return False


class AclOps:
    """Mixed into BucketOps: bucket ACLs and Object Ownership."""

    def check_acl_allowed(self, bucket: str, grants: list[dict], account: str, *, object_acl: bool = False) -> None:
        """The rules an ACL about to be set meets: ACLs off under
        BucketOwnerEnforced (only the owner's full control passes), public
        grants refused under BlockPublicAcls."""
        if self.bucket_ownership(bucket) == "BucketOwnerEnforced" and not only_owner_full_control(grants, account):
            raise s3_error("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
        if any(is_public_grant(g) for g in grants) and self.public_access_block(bucket)["BlockPublicAcls"]:
            raise s3_error("AccessDenied", "Access Denied", 403)

    def check_object_acl(self, bucket, params: dict, object_owner: str) -> list[dict] | None:
        """For the objects helper: the grants of a request's object ACL
        (None: none given), refused as S3 refuses them. Under
        BucketOwnerEnforced the canned ACLs that leave the bucket owner in
        full control (private, bucket-owner-read, bucket-owner-full-control)
        pass and mean the owner's full control."""
        grants = grants_from_request(params, object_owner, bucket=False, bucket_owner=bucket.account)
        if grants is None:
            return None
        if self.bucket_ownership(bucket.name) == "BucketOwnerEnforced":
            if params.get("ACL") in ("private", "bucket-owner-read", "bucket-owner-full-control") \
                    or only_owner_full_control(grants, bucket.account):
                return owner_full_control(bucket.account)
            raise s3_error("AccessControlListNotSupported", "The bucket does not allow ACLs", 400)
        if any(is_public_grant(g) for g in grants) and self.public_access_block(bucket.name)["BlockPublicAcls"]:
            raise s3_error("AccessDenied", "Access Denied", 403)
        return grants

    def bucket_acl(self, bucket) -> dict:
        """The ACL in force (the owner's full control when ACLs are off)."""
        if self.bucket_ownership(bucket.name) == "BucketOwnerEnforced":
            return {"Owner": owner(bucket.account), "Grants": owner_full_control(bucket.account)}
        return self.get_config(bucket.name, ACL) or {"Owner": owner(bucket.account),
                                                     "Grants": owner_full_control(bucket.account)}

    def GetBucketAcl(self, ctx, params: dict) -> dict:
        return self.bucket_acl(self.owned_bucket(ctx, params))

    def PutBucketAcl(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        document = params.get("AccessControlPolicy")
        from_headers = grants_from_request(params, bucket.account, bucket=True)
        if document is not None and from_headers is not None:
            raise s3_error("UnexpectedContent", "This request does not support content", 400)
        if document is not None:
            grants = grants_from_policy(document)
            given_owner = (document.get("Owner") or {}).get("ID")
            if given_owner and given_owner != canonical_id(bucket.account):
                raise s3_error("AccessDenied", "Access Denied", 403)
        elif from_headers is not None:
            grants = from_headers
        else:
            raise s3_error("MissingSecurityHeader", "Your request was missing a required header", 400,
                           MissingHeaderName="x-amz-acl")
        self.check_acl_allowed(bucket.name, grants, bucket.account)
        self.put_config(bucket.name, ACL, {"Owner": owner(bucket.account), "Grants": grants})
        return {}

    # -- Object Ownership ------------------------------------------------------

    def GetBucketOwnershipControls(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        found = self.get_config(bucket.name, OWNERSHIP)
        if found is None:
            raise s3_error("OwnershipControlsNotFoundError", "The bucket ownership controls were not found", 404,
                           BucketName=bucket.name)
        return {"OwnershipControls": found}

    def PutBucketOwnershipControls(self, ctx, params: dict) -> dict:
        from cloudlet.services.s3.common import malformed_xml

        bucket = self.owned_bucket(ctx, params)
        rules = (params.get("OwnershipControls") or {}).get("Rules") or []
        if len(rules) != 1 or rules[0].get("ObjectOwnership") not in ("BucketOwnerPreferred", "ObjectWriter",
                                                                        "BucketOwnerEnforced"):
            raise malformed_xml()
        value = rules[0]["ObjectOwnership"]
        if value == "BucketOwnerEnforced":
            current = self.get_config(bucket.name, ACL)
            if current and not only_owner_full_control(current["Grants"], bucket.account):
                raise s3_error("InvalidBucketAclWithObjectOwnership",
                               "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting", 400)
        self.put_config(bucket.name, OWNERSHIP, {"Rules": [{"ObjectOwnership": value}]})
        return {}

    def DeleteBucketOwnershipControls(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, OWNERSHIP)
        return {}
