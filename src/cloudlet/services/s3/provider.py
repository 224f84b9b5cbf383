"""Amazon S3 (rest-xml; path-style and virtual-hosted-style addressing are
resolved by the router, which passes a host-named bucket in
ctx.extra["bucket_from_host"] and fills the Bucket parameter).

The operations live in mixins by subject: buckets.py (buckets and their
configurations), objects.py (object reads, writes, listings, versions),
multipart.py (multipart uploads). common.py holds what they share;
objectdata.py keeps object bytes encrypted at rest; store.py the tables.

Authorization: actions are s3:<Action> as the S3 "actions, resources and
condition keys" page maps each operation (authz_action), on the bucket or
object ARN (authz_resources), with the bucket policy as the resource
policy.

Outside the model (the gateway's `unrouted` / `finish_response` hooks):
CORS preflights and the CORS headers of actual requests (cors.py), browser
POST uploads (postobject.py, formdata.py).
"""

from __future__ import annotations

from cloudlet.services.base import Service
from cloudlet.services.s3.access import S3Access
from cloudlet.services.s3.buckets import BucketOps
from cloudlet.services.s3.common import S3Common, VersionStore
from cloudlet.services.s3.cors import CorsOps, split_path
from cloudlet.services.s3.lifecycle import LifecycleRunner
from cloudlet.services.s3.notifications import Notifier
from cloudlet.services.s3.objects import ObjectOps
from cloudlet.services.s3.multipart import MultipartOps
from cloudlet.services.s3.postobject import PostObjectOps
from cloudlet.services.s3.restore import RestoreOps
from cloudlet.services.s3.website import WebsiteOps
from cloudlet.services.s3.store import MIGRATIONS


class S3Service(BucketOps, S3Access, ObjectOps, MultipartOps, RestoreOps, WebsiteOps, CorsOps, PostObjectOps,
                LifecycleRunner, Notifier, VersionStore, S3Common, Service):
    model_name = "s3"
    migrations = MIGRATIONS

    def __init__(self, cloud):
        super().__init__(cloud)
        self._master = None

    def start(self) -> None:
        # Files of deleted versions and replaced parts go once their rows'
        # deletion has committed.
        self.cloud.scheduler.every("s3-sweep", 30.0, self.sweep_dead_blobs)
        # Lifecycle actions fall due at midnight UTC; hourly is close enough.
        self.cloud.scheduler.every("s3-lifecycle", 3600.0, self.run_lifecycle)
        # Restores complete within minutes (Expedited) to days.
        self.cloud.scheduler.every("s3-restores", 60.0, self.run_restores)

    async def unrouted(self, request, path: str, request_id: str):
        """OPTIONS on a bucket or object: a CORS preflight; POST on a bucket
        (no subresource the model knows): a browser upload. Anything else
        answers the usual MethodNotAllowed."""
        bucket, key = split_path(path)
        if not bucket:
            return None
        if request.method == "OPTIONS":
            return self.preflight(request, path, request_id)
        if request.method == "POST" and not key:
            return await self.post_object(request, path, request_id)
        return None

    def finish_response(self, request, path: str, response):
        if request.header("origin") is None:
            return response
        return self.cors_response(request, path, response)
