"""CloudTrail's recorder: one row per API call, written in the call's own
transaction.

The gateway calls `Recorder.record` once per call whose operation is known
and whose caller is authenticated (successes and failures alike: bad input,
AccessDenied, a handler's error) and `Recorder.record_internal` for the
calls services make to each other through `Gateway.call` / `call_many`.
Calls that fail before the operation is known (an unknown service, a bad or
unknown credential) are not recorded: AWS does not record calls that fail
authentication either.

The hot path stores raw material only: the time, who (the principal's
fields), where from, the operation, the request parameters and, for a
write that succeeded, the output, as JSON; members AWS never shows (the
model's `sensitive` trait: secret access keys, passwords, KMS plaintexts;
blobs and streams: object bodies) are dropped, and message bodies SQS and
SNS hide are replaced as AWS replaces them, by a plan compiled once per
operation. Turning that into CloudTrail's record (camelCase keys, the
userIdentity element, resources, ...) happens when a record is read
(cloudlet.services.cloudtrail.events), so a call pays one small INSERT,
committed with the call's own writes by the storage's group commit.

Data events (S3 object operations, SQS and SNS message operations, Lambda
Invoke) are stored only when a logging trail's event selectors want them;
which trails have data selectors is cached per account and forgotten on
every trail write (`forget`).

Recording never fails the call it records: an exception here is logged
and swallowed.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from cloudlet import ids

log = logging.getLogger("cloudlet.cloudtrail")

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

# Operations that are data events, by service: the resource type of each.
DATA_EVENTS = {
    "sqs": {op: "AWS::SQS::Queue" for op in (
        "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
        "ChangeMessageVisibility", "ChangeMessageVisibilityBatch")},
    "sns": {"Publish": "AWS::SNS::Topic", "PublishBatch": "AWS::SNS::Topic"},
    "lambda": {"Invoke": "AWS::Lambda::Function", "InvokeWithResponseStream": "AWS::Lambda::Function"},
}
# S3's bucket-level operations that CloudTrail logs as data events (object
# listings and multipart uploads); every operation with a Key is one too.
S3_BUCKET_DATA_EVENTS = frozenset({
    "ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads",
})
# Read-only operations whose names do not say so.
_READ_ONLY = {
    "sqs": {"ReceiveMessage"},
    "kms": {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GenerateRandom", "ReEncrypt", "Sign", "Verify",
            "VerifyMac", "DeriveSharedSecret"},
    "sts": {"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity", "DecodeAuthorizationMessage",
            "GetFederationToken", "GetSessionToken", "AssumeRoot"},
    "s3": {"HeadBucket", "HeadObject", "SelectObjectContent"},
    "iam": {"SimulateCustomPolicy", "SimulatePrincipalPolicy", "GenerateServiceLastAccessedDetails"},
}
_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Head", "Search", "BatchGet", "Query", "Scan")
# Calls CloudTrail does not record at all (the CloudWatch Logs User Guide,
# "Logging CloudWatch Logs API calls with CloudTrail": the log event
# actions are left out).
_NOT_RECORDED = {
    "logs": frozenset({"PutLogEvents", "GetLogEvents", "FilterLogEvents", "GetLogRecord", "StartLiveTail",
                       "GetQueryResults"}),
}
# Members AWS hides rather than drops (message contents), by service.
_HIDDEN_MEMBERS = {
    "sqs": {"MessageBody", "MessageAttributes", "MessageSystemAttributes"},
    "sns": {"Message", "Subject", "MessageAttributes"},
}


def is_read_only(service: str, operation: str) -> bool:
    if operation in _READ_ONLY.get(service, ()):
        return True
    return operation.startswith(_READ_PREFIXES)


def data_resource_type(service: str, op, params_shape=None) -> str | None:
    """The data event resource type of an operation, or None for a
    management event."""
    if service == "s3":
        shape = op.input
        if op.name in S3_BUCKET_DATA_EVENTS or (shape is not None and "Key" in shape.members
                                                 and "Bucket" in shape.members):
            return "AWS::S3::Object"
        return None
    return DATA_EVENTS.get(service, {}).get(op.name)


class _Plan:
    __slots__ = ("read_only", "data_type", "scrub_in", "scrub_out", "service", "name", "simple")

    def __init__(self, read_only, data_type, scrub_in, scrub_out, service, name):
        self.read_only = read_only
        self.data_type = data_type
        self.scrub_in = scrub_in
        self.scrub_out = scrub_out
        self.service = service
        self.name = name
        # A management event of a regional service: Recorder.record's
        # short path (most calls).
        self.simple = data_type is None and service not in ("iam",)


def _default(value):
    # Blobs and streams that no plan dropped (there should be none), and
    # anything else JSON cannot say: left out.
    return None


def compile_scrub(shape, hidden: frozenset, _seen=None):
    """A function that copies a value of `shape` without what CloudTrail
    never records (sensitive members, blobs, streams) and with `hidden`
    members replaced by HIDDEN; None when the shape has nothing to remove."""
    if shape is None:
        return None
    _seen = _seen if _seen is not None else set()
    if shape.type == "structure":
        if shape.name in _seen:
            return None  # a recursive shape: its inner levels are not scrubbed
        _seen = _seen | {shape.name}
        drop, hide, nested = [], [], {}
        for name, member in shape.members.items():
            if member.sensitive or member.streaming or member.type == "blob" or member.event_stream:
                drop.append(name)
            elif name in hidden:
                hide.append(name)
            else:
                fn = compile_scrub(member, hidden, _seen)
                if fn is not None:
                    nested[name] = fn
        if not (drop or hide or nested):
            return None
        drop_t, hide_t = tuple(drop), tuple(hide)

        def scrub_structure(value):
            if not isinstance(value, dict):
                return value
            out = dict(value)
            for name in drop_t:
                out.pop(name, None)
            for name in hide_t:
                if name in out:
                    out[name] = HIDDEN
            for name, fn in nested.items():
                if name in out:
                    out[name] = fn(out[name])
            return out
        return scrub_structure
    if shape.type == "list":
        if shape.member.sensitive:
            return lambda value: None
        fn = compile_scrub(shape.member, hidden, _seen)
        if fn is None:
            return None
        return lambda value: [fn(v) for v in value] if isinstance(value, list) else value
    if shape.type == "map":
        if shape.value.sensitive:
            return lambda value: None
        fn = compile_scrub(shape.value, hidden, _seen)
        if fn is None:
            return None
        return lambda value: {k: fn(v) for k, v in value.items()} if isinstance(value, dict) else value
    if shape.sensitive:
        return lambda value: None
    return None


def plan_for(op) -> _Plan:
    plan = op.plans.get("cloudtrail")
    if plan is None:
        service = op.service.name
        hidden = frozenset(_HIDDEN_MEMBERS.get(service, ()))
        plan = _Plan(is_read_only(service, op.name), data_resource_type(service, op),
                     compile_scrub(op.input, hidden), compile_scrub(op.output, hidden), service, op.name)
        op.plans["cloudtrail"] = plan
    return plan


def _event_id() -> str:
    """A random version-4 UUID as 32 hex digits (readers add the dashes:
    cloudtrail.events.dashed)."""
    return ids.uuid4_hex()


def _kept(plan: _Plan, params, output, error) -> tuple:
    """What a record keeps of a call: (parameters, output, errorCode,
    errorMessage), secrets removed by the plan; the output of writes only."""
    if params is not None and plan.scrub_in is not None:
        params = plan.scrub_in(params)
    if error is not None:
        return params, None, error.code, error.message
    if output is not None:
        if plan.read_only:
            output = None
        elif plan.scrub_out is not None:
            output = plan.scrub_out(output)
    return params, output, None, None


def identity_of(principal, access_key: str | None, invoked_by: str | None) -> tuple[str | None, bytes]:
    """(LookupEvents' Username, the identity fields as JSON)."""
    kind = principal.type
    attrs = principal.attributes
    ident = {"t": kind, "arn": principal.arn, "id": principal.user_id, "acct": principal.account_id}
    if access_key:
        ident["key"] = access_key
    if invoked_by:
        ident["by"] = invoked_by
    username = None
    if kind == "Root":
        username = "root"
    elif kind == "IAMUser":
        username = principal.name
        ident["name"] = principal.name
    elif kind in ("AssumedRole", "FederatedUser"):
        username = principal.name
        if kind == "AssumedRole":
            ident["role"] = [attrs.get("role_arn"), attrs.get("role_name")]
        else:
            ident["parent"] = attrs.get("parent_user")
    if principal.session_token:
        ident["issued"] = attrs.get("issued")
        ident["mfa"] = bool(attrs.get("mfa"))
        if attrs.get("source_identity"):
            ident["srcid"] = attrs["source_identity"]
    return username, orjson.dumps(ident)


# Records wait this long (or for this many rows) to be written together by
# one executemany: one statement per record (with its savepoint) cost more
# than the rest of a light call, and a read at one connection would pay a
# commit of its own.
BATCH_SECONDS = 0.05
BATCH_ROWS = 512

_INSERT = ("INSERT INTO cloudtrail_events (time, account, region, service, name, read_only, category, error_code, "
           "rec) VALUES (?,?,?,?,?,?,?,?,?)")


class Recorder:
    def __init__(self, cloud, enabled: bool = True):
        self.cloud = cloud
        self.enabled = enabled
        self._ready = False
        # account -> [trail rows with data event selectors that are logging]
        self._data_trails: dict = {}
        # account -> ({decision key: logged?}, the fields the trails' selectors name)
        self._data_decisions: dict = {}
        # Records of this loop iteration, written together (one executemany)
        # by a callback: a call's answer never waits on its record.
        self._batch: list[tuple] = []
        self._timer = None
        # (principal fields, key, invokedBy) -> (username, identity JSON)
        self._identities: dict = {}
        self._now = cloud.clock.now

    def discard(self) -> None:
        """Forget unwritten records (the cloud was reset under them)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._batch = []

    def _prepare(self) -> None:
        # The table belongs to the cloudtrail service: starting it applies
        # its migrations and schedules the retention sweep.
        self.cloud.service("cloudtrail")
        self._ready = True

    def forget(self) -> None:
        """Call after every trail write: which trails want data events."""
        self._data_trails.clear()
        self._data_decisions.clear()

    # -- recording -------------------------------------------------------

    def _identity(self, principal, access_key, invoked_by) -> tuple:
        """identity_of, remembered: the same few callers make most calls.
        A session's attributes come with its token, so the token is in the
        key."""
        # (the ARN and the user id name the type, account and name)
        key = (principal.arn, principal.user_id, principal.session_token, access_key, invoked_by)
        found = self._identities.get(key)
        if found is None:
            if len(self._identities) >= 4096:
                self._identities.clear()
            username, identity = identity_of(principal, access_key, invoked_by)
            found = self._identities[key] = (username, orjson.Fragment(identity))
        return found

    def record(self, op, principal, region: str, params, output, error, request_id: str, source_ip: str,
               user_agent: str, access_key: str | None, invoked_by: str | None = None,
               host: str | None = None, owner: str | None = None, name: str | None = None) -> None:
        """Record one call. A call that wrote (the storage has a transaction
        open) gets its record written now, into that transaction, so the
        record is as durable as the call's effects; the records of reads
        are batched (BATCH_SECONDS). `owner`: the account that owns the
        resource when it is not the caller's: the call is recorded in both
        accounts with one sharedEventID (an anonymous caller's only in the
        owner's). `name`: the eventName when it is not the operation's (S3's
        browser POST upload, recorded as PostObject, is PutObject's work)."""
        skipped = _NOT_RECORDED.get(op.service.name)
        if skipped is not None and op.name in skipped:
            return
        try:
            plan = op.plans.get("cloudtrail")
            if (plan is not None and plan.simple and owner is None and host is None and name is None
                    and self._ready):
                # The short path: a management event in the caller's account
                # (what _record does, without the cases that do not apply).
                params, output, code, message = _kept(plan, params, output, error)
                username, identity = self._identity(principal, access_key, invoked_by)
                row = (self._now(), principal.account_id, region, plan.service, plan.name,
                       1 if plan.read_only else 0, 0, code,
                       orjson.dumps((_event_id(), username, access_key, identity, source_ip, user_agent,
                                     request_id, params, output, message, None, None), default=_default))
                self._queue(row)
                if self.cloud.eventbridge_sink is not None:
                    self.to_eventbridge(principal.account_id, region, plan.service, plan.name, row,
                                        plan.read_only)
            else:
                self._record(op, principal, region, params, output, error, request_id, source_ip, user_agent,
                             access_key, invoked_by, host, owner, name)
            if self._batch and self.cloud.storage.pending:
                self.write_batch()
        except Exception:
            log.exception("recording %s.%s failed", op.service.name, op.name)

    def record_internal(self, ctx, params, output, error) -> None:
        """A call one service made to another (Gateway.call / call_many):
        as the service principal (userIdentity AWSService) or as the
        caller it acts for, with invokedBy."""
        self.record(ctx.op_model, ctx.principal, ctx.region, params, output, error, ctx.request_id,
                    ctx.invoked_by or ctx.source_ip, ctx.invoked_by or ctx.user_agent,
                    ctx.principal.access_key if ctx.principal.type != "AWSService" else None,
                    invoked_by=ctx.invoked_by)

    def _record(self, op, principal, region, params, output, error, request_id, source_ip, user_agent,
                access_key, invoked_by, host, owner=None, name=None) -> None:
        if not self._ready:
            self._prepare()
        plan = op.plans.get("cloudtrail") or plan_for(op)
        service = op.service.name
        name = name or op.name
        account = principal.account_id
        if service == "iam":
            region = "us-east-1"  # a global service: AWS records it in us-east-1
        if owner == account:
            owner = None
        elif owner is not None and principal.type == "Anonymous":
            account, owner = owner, None  # no account of its own: the owner's record only
        if plan.data_type is not None and owner is None and not self._has_data_trails(account):
            return  # a data event no trail of the account wants (the common case): nothing to do
        resources = None
        if plan.data_type is not None or owner is not None:
            from cloudlet.services.cloudtrail.events import resources_of

            # (S3 bucket ARNs name no account: the owner's)
            resources = resources_of(service, name, params or {}, owner or account, region)
        accounts = [account] if owner is None else [account, owner]
        if plan.data_type is not None:
            accounts = [a for a in accounts
                        if self.wants_data(op, plan, principal, a, region, resources, error, name)]
            if not accounts:
                return
        params, output, error_code, error_message = _kept(plan, params, output, error)
        if params is not None and host is not None and service == "s3":
            params = dict(params)
            params["__host__"] = host
        username, identity = self._identity(principal, access_key, invoked_by)
        now = self._now()
        # one call seen by two accounts: one sharedEventID, an eventID each
        shared = _event_id() if owner is not None else None
        resources = resources or None
        category = 1 if plan.data_type is not None else 0
        first = None
        for recipient in accounts:
            # (events.REC_FIELDS)
            rec = orjson.dumps((_event_id(), username, access_key, identity, source_ip, user_agent, request_id,
                                params, output, error_message, resources, shared), default=_default)
            row = (now, recipient, region, service, name, int(plan.read_only), category, error_code, rec)
            first = first or row
            self._queue(row)
        if plan.data_type is None and self.cloud.eventbridge_sink is not None:
            self.to_eventbridge(account, region, service, name, first, plan.read_only)

    def _queue(self, row: tuple) -> None:
        """A record row (_INSERT's columns), written with its batch."""
        batch = self._batch
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            self.write_batch()
        elif self._timer is None:
            self._start_timer()

    def _start_timer(self) -> None:
        try:
            self._timer = asyncio.get_running_loop().call_later(BATCH_SECONDS, self.write_batch)
        except RuntimeError:
            self.write_batch()  # no loop (tools, unit tests): at once

    def write_batch(self) -> None:
        """Write the records gathered so far, in the shared transaction.
        Readers of records (LookupEvents, delivery, Insights) call it first.
        A killed server may lose the records of its last BATCH_SECONDS,
        never what the calls themselves wrote."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            storage = self.cloud.storage
            with storage.tx():
                storage.executemany(_INSERT, batch)
        except Exception:
            log.exception("writing %d CloudTrail records failed", len(batch))

    # -- data events -----------------------------------------------------

    def _has_data_trails(self, account: str) -> bool:
        trails = self._data_trails.get(account)
        if trails is None:
            trails = self._data_trails[account] = self.cloud.service("cloudtrail").data_trails(account)
        return bool(trails)

    def wants_data(self, op, plan, principal, account, region, resources, error, name=None) -> bool:
        trails = self._data_trails.get(account)
        if trails is None:
            trails = self._data_trails[account] = self.cloud.service("cloudtrail").data_trails(account)
        if not trails:
            return False
        from cloudlet.services.cloudtrail.selectors import matches, referenced_fields

        name = name or op.name
        error_code = error.code if error is not None else None
        # A trail's decision depends only on the fields its selectors name:
        # remembered by those (per account, forgotten when a trail changes).
        memo = self._data_decisions.get(account)
        if memo is None:
            fields = frozenset().union(*(referenced_fields(t) for t in trails))
            memo = self._data_decisions[account] = ({}, fields)
        decisions, fields = memo
        key = (region, op.service.endpoint_prefix,
               name if "eventName" in fields else None,
               plan.read_only,
               tuple((r.get("type"), r.get("ARN")) for r in resources or ()) if "resources" in fields else None,
               principal.arn if "userIdentity.arn" in fields else None,
               error_code if "errorCode" in fields else None)
        found = decisions.get(key)
        if found is not None:
            return found
        record = {
            "eventCategory": "Data", "eventSource": f"{op.service.endpoint_prefix}.amazonaws.com",
            "eventName": name, "readOnly": plan.read_only, "eventType": "AwsApiCall",
            "managementEvent": False, "resources": resources or [],
            "userIdentity": {"arn": principal.arn}, "errorCode": error_code,
        }
        found = any((trail.region == region or trail.multi_region) and matches(trail, record) for trail in trails)
        if len(decisions) >= 4096:
            decisions.clear()
        decisions[key] = found
        return found

    # -- EventBridge -----------------------------------------------------

    def to_eventbridge(self, account: str, region: str, service: str, operation: str, row: tuple,
                       read_only: bool) -> None:
        """A management event onto the account's default EventBridge bus
        as "AWS API Call via CloudTrail" (EventBridge's sources.py decides,
        and shapes the record only when a rule may want it)."""
        try:
            self.cloud.eventbridge_sink(account, region, service, operation, row, read_only)
        except Exception:
            log.exception("EventBridge hook failed for %s.%s", service, operation)
