"""An object version's subresources: tagging, Object Lock retention and
legal hold, ACL, and GetObjectAttributes. They change the version row in
place (a version's data never changes; these may)."""

from __future__ import annotations

import datetime as _dt

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.s3 import checksums, tagging
from cloudlet.services.s3.acl import grants_from_policy, grants_from_request, user_grant
from cloudlet.services.s3.common import (
    Bucket,
    ObjectVersion,
    canonical_id,
    invalid_argument,
    invalid_request,
    malformed_xml,
    s3_error,
)
from cloudlet.services.s3.sse import read_customer_key, reject_sse_headers

NO_LOCK_CONFIG = "Bucket is missing Object Lock Configuration"
ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
FULL_CONTROL = "FULL_CONTROL"


def _pacific(when: float) -> str:
    """S3 names a rejected retention date in US Pacific time, as
    "Tue Dec 31 16:00:00 PST 2019", whatever the bucket's region."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        moment = _dt.datetime.fromtimestamp(when, ZoneInfo("America/Los_Angeles"))
    except ZoneInfoNotFoundError:  # no time zone database
        moment = _dt.datetime.fromtimestamp(when, _dt.UTC)
    return moment.strftime("%a %b %d %H:%M:%S %Z %Y")


class ObjectSubresourceOps:
    """Mixin of S3Service (through ObjectOps)."""

    def _version_for_change(self, bucket: Bucket, key: str, version_id: str | None, method: str) -> ObjectVersion:
        """The version a subresource request acts on; a delete marker (even
        as the current version) answers 405, as S3 does for these."""
        try:
            return self.find_version(bucket, key, version_id, method)
        except AwsError as err:
            marker = err.headers.get("x-amz-delete-marker") if err.code == "NoSuchKey" else None
            if not marker:
                raise
            version = err.headers["x-amz-version-id"]
            denied = s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                              Method=method, ResourceType="DeleteMarker")
            denied.headers = {"x-amz-delete-marker": "true", "Allow": "DELETE", "x-amz-version-id": version}
            raise denied from None

    def _update_version(self, version: ObjectVersion, **columns) -> None:
        """Change a version's tags / lock / headers (JSON columns)."""
        names = ", ".join(f"{name} = ?" for name in columns)
        values = [orjson.dumps(value).decode() for value in columns.values()]
        with self.storage.tx():
            self.forget_object(version.bucket, version.key)
            self.storage.execute(f"UPDATE s3_objects SET {names} WHERE bucket = ? AND key = ? AND version_id = ?",
                                 (*values, version.bucket, version.key, version.version_id))

    def _event(self, ctx, bucket: Bucket, event: str, version: ObjectVersion | None = None, **details) -> None:
        """An S3 event notification (notifications.py), when configured."""
        notify = getattr(self, "notify", None)
        if notify is not None:
            notify(bucket, event, version, ctx, **details)

    @staticmethod
    def _version_out(bucket: Bucket, version: ObjectVersion) -> dict:
        return {"VersionId": version.version_id} if bucket.versioning else {}

    # -- tagging -------------------------------------------------------------------

    def GetObjectTagging(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "GET")
        out = self._version_out(bucket, version)
        out["TagSet"] = tagging.to_tag_set(version.tags)
        return out

    def PutObjectTagging(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        checksums.check_body(ctx.request, _body(ctx.request))
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "PUT")
        document = params.get("Tagging")
        if document is None or "TagSet" not in document:
            raise malformed_xml()
        tags = tagging.from_tag_set(document.get("TagSet"))
        self._update_version(version, tags=tags)
        self._event(ctx, bucket, "ObjectTagging:Put", version)
        return self._version_out(bucket, version)

    def DeleteObjectTagging(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "DELETE")
        if version.tags:
            self._update_version(version, tags={})
        self._event(ctx, bucket, "ObjectTagging:Delete", version)
        return self._version_out(bucket, version)

    # -- Object Lock ---------------------------------------------------------------

    def _locked_version(self, ctx, params: dict, method: str) -> tuple[Bucket, ObjectVersion]:
        bucket = self.owned_bucket(ctx, params)
        if not bucket.object_lock:
            raise invalid_request(NO_LOCK_CONFIG)
        return bucket, self._version_for_change(bucket, params["Key"], params.get("VersionId"), method)

    def GetObjectRetention(self, ctx, params):
        _, version = self._locked_version(ctx, params, "GET")
        lock = version.lock or {}
        if not lock.get("Mode"):
            raise s3_error("NoSuchObjectLockConfiguration",
                           "The specified object does not have a ObjectLock configuration", 404)
        return {"Retention": {"Mode": lock["Mode"], "RetainUntilDate": lock["RetainUntilDate"]}}

    def PutObjectRetention(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        checksums.check_body(ctx.request, _body(ctx.request))
        if not bucket.object_lock:
            raise invalid_request(NO_LOCK_CONFIG)
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "PUT")
        retention = params.get("Retention") or {}
        mode, until = retention.get("Mode"), retention.get("RetainUntilDate")
        if (mode is None) != (until is None):
            raise malformed_xml()
        if mode is not None and mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise malformed_xml()
        now = self.clock.now()
        if until is not None and until <= now:
            raise invalid_argument("The retain until date must be in the future!", "RetainUntilDate", _pacific(until))
        lock = dict(version.lock or {})
        current_mode, current_until = lock.get("Mode"), lock.get("RetainUntilDate")
        if current_mode and current_until and current_until > now:
            weaker = mode is None or until < current_until or (current_mode == "COMPLIANCE" and mode != "COMPLIANCE")
            if weaker:
                bypass = bool(params.get("BypassGovernanceRetention"))
                if current_mode == "COMPLIANCE" or not bypass:
                    raise s3_error("AccessDenied", "Access Denied because object protected by object lock.", 403)
                self._authorize(ctx, "s3:BypassGovernanceRetention", bucket.name, version.key)
        lock.pop("Mode", None)
        lock.pop("RetainUntilDate", None)
        if mode is not None:
            lock.update(Mode=mode, RetainUntilDate=until)
        self._update_version(version, lock=lock)
        return {}

    def GetObjectLegalHold(self, ctx, params):
        _, version = self._locked_version(ctx, params, "GET")
        status = (version.lock or {}).get("LegalHold")
        if not status:
            raise s3_error("NoSuchObjectLockConfiguration",
                           "The specified object does not have a ObjectLock configuration", 404)
        return {"LegalHold": {"Status": status}}

    def PutObjectLegalHold(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        checksums.check_body(ctx.request, _body(ctx.request))
        hold = params.get("LegalHold")
        if not hold:
            raise malformed_xml()
        if not bucket.object_lock:
            raise invalid_request(NO_LOCK_CONFIG)
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "PUT")
        status = hold.get("Status")
        if status not in ("ON", "OFF"):
            raise malformed_xml()
        self._update_version(version, lock={**(version.lock or {}), "LegalHold": status})
        return {}

    # -- ACL -----------------------------------------------------------------------

    def GetObjectAcl(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "GET")
        grants = [user_grant(version.owner, FULL_CONTROL)]
        if self.object_ownership(bucket) != "BucketOwnerEnforced":
            grants = version.headers.get("_acl") or grants
        return {"Owner": {"ID": version.owner}, "Grants": grants}

    def PutObjectAcl(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        checksums.check_body(ctx.request, _body(ctx.request))
        version = self._version_for_change(bucket, params["Key"], params.get("VersionId"), "PUT")
        account = next((a for a in (bucket.account, ctx.account_id) if canonical_id(a) == version.owner),
                       bucket.account)
        policy = params.get("AccessControlPolicy")
        grants = grants_from_request(params, account, bucket=False, bucket_owner=bucket.account)
        if grants is None:
            if policy is None:
                raise s3_error("MissingSecurityHeader", "Your request was missing a required header", 400,
                               MissingHeaderName="x-amz-acl")
            grants = grants_from_policy(policy)
        self.check_acl_allowed(bucket.name, grants, account, object_acl=True)
        if self.object_ownership(bucket) != "BucketOwnerEnforced":
            self._update_version(version, headers={**version.headers, "_acl": grants})
        self._event(ctx, bucket, "ObjectAcl:Put", version)
        return {}

    # -- attributes ----------------------------------------------------------------

    async def GetObjectAttributes(self, ctx, params):
        reject_sse_headers(ctx.request)
        bucket = self.owned_bucket(ctx, params)
        wanted = params.get("ObjectAttributes") or []
        if not wanted:
            raise invalid_request("The x-amz-object-attributes header specifying the attributes to be retrieved is "
                                  "either missing or empty")
        for name in wanted:
            if name not in ATTRIBUTES:
                raise invalid_argument("Invalid attribute name specified.", "x-amz-object-attributes", name)
        version = self.find_version(bucket, params["Key"], params.get("VersionId"), "GET")
        customer = read_customer_key(params, version.sse)
        if customer is not None:
            await self.unprotect(ctx, bucket, version.key, version.sse, customer)
        out = {"LastModified": version.last_modified}
        out.update(self._version_out(bucket, version))
        if "ETag" in wanted:
            out["ETag"] = version.etag.strip('"')
        if "Checksum" in wanted and any(alg in version.checksums for alg in checksums.ALGORITHMS):
            values = {alg: value.split("-")[0] for alg, value in version.checksums.items() if alg != "type"}
            out["Checksum"] = checksums.response_fields({**values, "type": version.checksums.get("type")})
        if "ObjectParts" in wanted and version.parts:
            out["ObjectParts"] = _parts_page(version.parts, params.get("MaxParts"), params.get("PartNumberMarker"))
        if "StorageClass" in wanted:
            out["StorageClass"] = version.storage_class
        if "ObjectSize" in wanted:
            out["ObjectSize"] = version.size
        return out


def _parts_page(parts: list, max_parts: int | None, marker: int | None) -> dict:
    max_parts = 1000 if max_parts is None else max_parts
    marker = marker or 0
    after = [p for p in parts if p.get("PartNumber", 0) > marker]
    page = after[:max_parts]
    out = {"TotalPartsCount": len(parts), "PartNumberMarker": marker, "MaxParts": max_parts,
           "IsTruncated": len(after) > len(page)}
    if page:
        out["NextPartNumberMarker"] = page[-1]["PartNumber"]
        out["Parts"] = [{"PartNumber": p["PartNumber"], "Size": p.get("Size", 0),
                         **{checksums.member(alg): p[checksums.member(alg)] for alg in checksums.ALGORITHMS
                            if p.get(checksums.member(alg))}} for p in page]
    return out


def _body(request) -> bytes:
    body = request.body
    if hasattr(body, "read"):
        return body.read()
    return bytes(body or b"")
