"""SNS delivery policies: how SNS retries and throttles deliveries ("Amazon SNS
message delivery retries", "Creating an HTTP/S delivery policy", "Amazon SNS
dead-letter queues" in the SNS Developer Guide). Pure functions, no I/O.

A DeliveryPolicy is checked once (`validate_topic_policy`,
`validate_subscription_policy`), which also gives the form SNS stores and
shows back as the DeliveryPolicy attribute. `effective_policy` and
`effective_topic_policy` give the EffectiveDeliveryPolicy attributes, and a
delivery loop asks `retry_delays` / `RetrySchedule`, `throttle_interval` and
`classify_http_status` what to do.

Where the facts come from:

- Ranges and defaults: the guide's table (minDelayTarget 1..maxDelayTarget,
  maxDelayTarget minDelayTarget..3600, numRetries 0..100, the three phase
  counts 0 or more, backoffFunction linear|arithmetic|geometric|exponential,
  maxReceivesPerSecond 1 or more; defaults 20/20/3/0/0/0/linear, no throttle,
  "text/plain; charset=UTF-8"). The phase counts may not add up to more than
  numRetries, because the backoff phase gets "numRetries - numNoDelayRetries
  - numMinDelayRetries - numMaxDelayRetries" retries.
- Error texts AWS was seen to return (quoted from issue threads and tests
  run against AWS; see ERRORS below) and the stored / effective JSON shapes
  (LocalStack's AWS-validated snapshots, tests/aws/services/sns/
  test_sns.snapshot.json: test_topic_delivery_policy_crud and
  test_subscribe_external_http_endpoint_content_type).
- What the guide does not say (most error texts, the exact backoff curves) is
  marked where it is decided here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

# -- limits and defaults ("Creating an HTTP/S delivery policy") -------------

MIN_DELAY_TARGET = 1          # "minDelayTarget ... 1 to maximum delay"
MAX_DELAY_TARGET = 3600       # "maxDelayTarget ... Minimum delay to 3,600"
MAX_RETRIES = 100             # "numRetries ... 0 to 100"
MAX_TOTAL_RETRY_SECONDS = 3600  # "The total policy retry time for an HTTP/S endpoint cannot be greater than 3,600 seconds"
REQUEST_TIMEOUT_SECONDS = 15  # "The connection will time out in 15 seconds" (SendMessageToHttp.prepare)
DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8"
BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")

# The default healthy retry policy, in the key order SNS writes it back
# (recorded: EffectiveDeliveryPolicy in the snapshots above).
DEFAULT_RETRY_POLICY = MappingProxyType({
    "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
    "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"})
_RETRY_KEYS = tuple(DEFAULT_RETRY_POLICY)
# Checked in the guide's table order; the first failure is the answer. AWS
# names minDelayTarget when several are missing or all are 0 (recorded), so
# it comes first.
_RETRY_CHECK_ORDER = ("minDelayTarget", "maxDelayTarget", "numRetries", "numNoDelayRetries",
                      "numMinDelayRetries", "numMaxDelayRetries", "backoffFunction")
# AWS: "healthyRetryPolicy.minDelayTarget must be specified" for
# {"healthyRetryPolicy": {"numRetries": 5}}, the guide's own example (Terraform
# PR #3289); numRetries and maxDelayTarget are required too (triggermesh PR #220).
_REQUIRED = frozenset({"minDelayTarget", "maxDelayTarget", "numRetries"})
_LOWER = {"minDelayTarget": MIN_DELAY_TARGET, "maxDelayTarget": MIN_DELAY_TARGET, "numRetries": 0,
          "numNoDelayRetries": 0, "numMinDelayRetries": 0, "numMaxDelayRetries": 0}
_UPPER = {"maxDelayTarget": MAX_DELAY_TARGET, "numRetries": MAX_RETRIES}

# headerContentType: the media types the guide lists for HTTP/S notifications
# (the same twelve as the Ballerina SNS connector's HeaderContentType, taken
# from the guide). A "; charset=UTF-8" suffix is accepted because SNS's own
# default has it (inferred; not recorded).
CONTENT_TYPES = frozenset({
    "application/atom+xml", "application/json", "application/octet-stream", "application/soap+xml",
    "application/x-www-form-urlencoded", "application/xhtml+xml", "application/xml",
    "text/css", "text/csv", "text/html", "text/plain", "text/xml"})

_TOPIC_KEYS = ("http",)
_TOPIC_HTTP_KEYS = ("defaultHealthyRetryPolicy", "disableSubscriptionOverrides",
                    "defaultThrottlePolicy", "defaultRequestPolicy")
# sicklyRetryPolicy and guaranteed are accepted and echoed by SNS (recorded:
# the stored subscription form always carries all five keys).
_SUBSCRIPTION_KEYS = ("healthyRetryPolicy", "sicklyRetryPolicy", "throttlePolicy", "requestPolicy", "guaranteed")


# -- errors -----------------------------------------------------------------

class DeliveryPolicyError(Exception):
    """An invalid DeliveryPolicy. `message` is AWS's text after "Invalid
    parameter: " (it starts with "DeliveryPolicy: "); `api_message` builds
    the whole text. Subscribe and CreateTopic, which take the policy inside
    Attributes, say "Invalid parameter: Attributes Reason: " instead
    (recorded for both)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def api_message(self, *, in_attributes: bool = False) -> str:
        head = "Invalid parameter: Attributes Reason: " if in_attributes else "Invalid parameter: "
        return head + self.message


# ERRORS: the texts AWS returned, after "Invalid parameter: [Attributes Reason: ]":
#   DeliveryPolicy: healthyRetryPolicy.minDelayTarget must be specified            (Terraform PR #3289)
#   DeliveryPolicy: healthyRetryPolicy.minDelayTarget must be greater than or equal to 1  (awsdocs PR #5)
#   DeliveryPolicy: http.defaultHealthyRetryPolicy.numRetries must be less than or equal to 100
#                                                         (Ballerina SNS connector tests against AWS)
#   DeliveryPolicy: http.defaultHealthyRetryPolicy.minDelayTarget type mismatch, expecting integer,
#       received a string                                 (ansible community.aws PR #716)
# So a field is named by its path ("http." for topics), and a bound reads "must
# be greater/less than or equal to N". The other texts follow that pattern:
# the cross-field ones are Comcast CMB's (an SNS clone of 2012 whose "must be
# specified" text matches AWS's word for word); the unknown-attribute one copies
# SNS's RedrivePolicy answer ("RedrivePolicy: invalid JSON. Attribute
# maxReceiveCount is unknown."); "failed to parse JSON." is SNS's answer for
# FilterPolicy and RedrivePolicy. Those are invented for DeliveryPolicy, as are
# the ones for backoffFunction, headerContentType and the total retry time.

def _fail(text: str) -> DeliveryPolicyError:
    return DeliveryPolicyError("DeliveryPolicy: " + text)


def _kind(value: Any) -> str:
    # "received a string" is recorded; the other names are this module's.
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _mismatch(path: str, expected: str, value: Any) -> DeliveryPolicyError:
    return _fail(f"{path} type mismatch, expecting {expected}, received {_kind(value)}")


def _object(value: Any, path: str, known: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise _mismatch(path, "object", value)
    for key in value:
        if key not in known:
            raise _fail(f"invalid JSON. Attribute {path + '.' if path else ''}{key} is unknown.")
    return value


def _integer(value: Any, path: str) -> int:
    # JSON true/false are not numbers, and 5.0 is not an integer.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _mismatch(path, "integer", value)
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _mismatch(path, "boolean", value)
    return value


def _parse(text: str | bytes) -> dict:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _fail("failed to parse JSON.") from None
    if not isinstance(doc, dict):
        raise _fail("failed to parse JSON.")
    return doc


# -- validation -------------------------------------------------------------

def _retry_policy(value: Any, path: str) -> dict:
    obj = _object(value, path, _RETRY_KEYS)
    got: dict[str, Any] = {}
    for key in _RETRY_CHECK_ORDER:
        field = f"{path}.{key}"
        item = obj.get(key)
        if item is None:  # JSON null is taken as absent, as SNS does for whole sections
            if key in _REQUIRED:
                raise _fail(f"{field} must be specified")
            continue
        if key == "backoffFunction":
            if not isinstance(item, str):
                raise _mismatch(field, "string", item)
            # The guide spells them in lower case; the CDK's BackoffFunction enum
            # sends "LINEAR" etc. and no failure of that is on record, so case is
            # not checked (inferred). The value is kept as sent.
            if item.lower() not in BACKOFF_FUNCTIONS:
                raise _fail(f"{field} must be one of {', '.join(BACKOFF_FUNCTIONS)}")
        else:
            _integer(item, field)
            if item < _LOWER[key]:
                raise _fail(f"{field} must be greater than or equal to {_LOWER[key]}")
            if key in _UPPER and item > _UPPER[key]:
                raise _fail(f"{field} must be less than or equal to {_UPPER[key]}")
        got[key] = item
    if got["minDelayTarget"] > got["maxDelayTarget"]:
        raise _fail(f"{path}.maxDelayTarget must be greater than or equal to minDelayTarget")
    phases = sum(got.get(k, 0) for k in ("numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries"))
    if phases > got["numRetries"]:
        raise _fail(f"{path}.numRetries must be greater than or equal to total of numMinDelayRetries, "
                    "numNoDelayRetries and numMaxDelayRetries")
    # SNS stores only the keys given, in its own order (recorded: a topic policy
    # of min/max/numRetries comes back as just those three; a full one comes back
    # with numMaxDelayRetries moved before numNoDelayRetries).
    return {k: got[k] for k in _RETRY_KEYS if k in got}


def _throttle_policy(value: Any, path: str) -> dict:
    obj = _object(value, path, ("maxReceivesPerSecond",))
    rate = obj.get("maxReceivesPerSecond")
    if rate is None:
        raise _fail(f"{path}.maxReceivesPerSecond must be specified")
    if _integer(rate, f"{path}.maxReceivesPerSecond") < 1:  # "1 or greater"
        raise _fail(f"{path}.maxReceivesPerSecond must be greater than or equal to 1")
    return {"maxReceivesPerSecond": rate}


def content_type_allowed(value: str) -> bool:
    media, sep, params = value.partition(";")
    if media.strip() not in CONTENT_TYPES:
        return False
    return not sep or params.strip().lower() == "charset=utf-8"


def _request_policy(value: Any, path: str) -> dict:
    obj = _object(value, path, ("headerContentType",))
    ctype = obj.get("headerContentType")
    if ctype is None:
        raise _fail(f"{path}.headerContentType must be specified")
    if not isinstance(ctype, str):
        raise _mismatch(f"{path}.headerContentType", "string", ctype)
    if not content_type_allowed(ctype):
        raise _fail(f"{path}.headerContentType {ctype} is not a supported content type")
    return {"headerContentType": ctype}


def _check_total_time(policy: dict | None, path: str) -> None:
    if policy is not None and RetrySchedule.from_policy(policy).total_seconds() > MAX_TOTAL_RETRY_SECONDS:
        raise _fail(f"{path} total retry time must be less than or equal to {MAX_TOTAL_RETRY_SECONDS} seconds")


def validate_topic_policy(text: str | bytes, *, check_total_time: bool = False) -> dict:
    """Check a topic's DeliveryPolicy and return the form SNS stores (and
    shows as DeliveryPolicy): {"http": {...}} with only the sections given,
    null sections dropped, and disableSubscriptionOverrides always present
    (recorded: {"http": {"defaultHealthyRetryPolicy": null}} is stored as
    {"http": {"disableSubscriptionOverrides": false}}). A policy without
    "http" is stored as {} (inferred).

    The guide calls the 3,600-second total retry time a hard limit; the
    console rejects longer policies, but AWS's API was seen to accept them
    (a 2018 Terraform setup retried linearly up to ~3,600 s per retry), and
    the one-hour limit reads as the lifetime of a message in delivery
    ("The maximum lifetime of a message in the system is one hour"). So the
    check is off unless asked for, and the delivery loop enforces the hour.
    """
    doc = _object(_parse(text), "", _TOPIC_KEYS)
    if doc.get("http") is None:
        return {}
    http = _object(doc["http"], "http", _TOPIC_HTTP_KEYS)
    out: dict[str, Any] = {}
    if http.get("defaultHealthyRetryPolicy") is not None:
        out["defaultHealthyRetryPolicy"] = _retry_policy(http["defaultHealthyRetryPolicy"],
                                                         "http.defaultHealthyRetryPolicy")
    flag = http.get("disableSubscriptionOverrides")
    out["disableSubscriptionOverrides"] = False if flag is None else _boolean(
        flag, "http.disableSubscriptionOverrides")
    if http.get("defaultThrottlePolicy") is not None:
        out["defaultThrottlePolicy"] = _throttle_policy(http["defaultThrottlePolicy"], "http.defaultThrottlePolicy")
    if http.get("defaultRequestPolicy") is not None:
        out["defaultRequestPolicy"] = _request_policy(http["defaultRequestPolicy"], "http.defaultRequestPolicy")
    if check_total_time:
        _check_total_time(out.get("defaultHealthyRetryPolicy"), "http.defaultHealthyRetryPolicy")
    return {"http": out}


def validate_subscription_policy(text: str | bytes, *, check_total_time: bool = False) -> dict:
    """Check a subscription's DeliveryPolicy and return the form SNS stores:
    all five keys, null where not given, guaranteed false by default
    (recorded: {"requestPolicy": {...}} comes back as {"healthyRetryPolicy":
    null, "sicklyRetryPolicy": null, "throttlePolicy": null, "requestPolicy":
    {...}, "guaranteed": false}). See validate_topic_policy on the total
    retry time."""
    doc = _object(_parse(text), "", _SUBSCRIPTION_KEYS)
    out: dict[str, Any] = {
        "healthyRetryPolicy": None, "sicklyRetryPolicy": None, "throttlePolicy": None,
        "requestPolicy": None, "guaranteed": False}
    for key in ("healthyRetryPolicy", "sicklyRetryPolicy"):
        if doc.get(key) is not None:
            out[key] = _retry_policy(doc[key], key)
    if doc.get("throttlePolicy") is not None:
        out["throttlePolicy"] = _throttle_policy(doc["throttlePolicy"], "throttlePolicy")
    if doc.get("requestPolicy") is not None:
        out["requestPolicy"] = _request_policy(doc["requestPolicy"], "requestPolicy")
    if doc.get("guaranteed") is not None:
        out["guaranteed"] = _boolean(doc["guaranteed"], "guaranteed")
    if check_total_time:
        _check_total_time(out["healthyRetryPolicy"], "healthyRetryPolicy")
    return out


# -- effective policies -----------------------------------------------------

def _filled(retry: dict | None) -> dict:
    """A retry policy with the defaults where keys are missing, in SNS's order."""
    return {**DEFAULT_RETRY_POLICY, **(retry or {})}


def effective_topic_policy(topic_policy: dict | None) -> dict:
    """The topic's EffectiveDeliveryPolicy: its stored policy over the
    defaults. Recorded shape: {"http": {"defaultHealthyRetryPolicy": {all
    seven keys}, "disableSubscriptionOverrides": false, "defaultRequestPolicy":
    {"headerContentType": "text/plain; charset=UTF-8"}}}; there is no
    defaultThrottlePolicy unless one was set (no throttling by default)."""
    http = (topic_policy or {}).get("http") or {}
    out: dict[str, Any] = {
        "defaultHealthyRetryPolicy": _filled(http.get("defaultHealthyRetryPolicy")),
        "disableSubscriptionOverrides": bool(http.get("disableSubscriptionOverrides", False))}
    if http.get("defaultThrottlePolicy"):
        out["defaultThrottlePolicy"] = dict(http["defaultThrottlePolicy"])
    out["defaultRequestPolicy"] = dict(http.get("defaultRequestPolicy") or {"headerContentType": DEFAULT_CONTENT_TYPE})
    return {"http": out}


def effective_policy(topic_policy: dict | None, subscription_policy: dict | None) -> dict:
    """An HTTP/S subscription's EffectiveDeliveryPolicy, from the stored forms
    given by the validators (None when unset).

    Each section of the subscription's policy replaces the topic's section of
    the same kind, and a section neither sets takes SNS's default: recorded,
    a subscription with healthyRetryPolicy and throttlePolicy but no
    requestPolicy, on a topic whose defaultRequestPolicy is application/json,
    shows its own retry and throttle sections and the topic's content type.
    A retry section is completed with the defaults, not with the topic's
    values (inferred). With the topic's disableSubscriptionOverrides, the
    subscription's policy is ignored ("Ignore subscription override")."""
    http = (topic_policy or {}).get("http") or {}
    sub = subscription_policy or {}
    if http.get("disableSubscriptionOverrides"):
        sub = {}
    healthy = sub.get("healthyRetryPolicy") or http.get("defaultHealthyRetryPolicy")
    sickly = sub.get("sicklyRetryPolicy")
    throttle = sub.get("throttlePolicy") or http.get("defaultThrottlePolicy")
    request = sub.get("requestPolicy") or http.get("defaultRequestPolicy")
    return {
        "healthyRetryPolicy": _filled(healthy),
        "sicklyRetryPolicy": _filled(sickly) if sickly else None,
        "throttlePolicy": dict(throttle) if throttle else None,
        "requestPolicy": dict(request or {"headerContentType": DEFAULT_CONTENT_TYPE}),
        "guaranteed": bool(sub.get("guaranteed", False)),
    }


# -- retry schedules --------------------------------------------------------

def backoff_delay(k: int, n: int, low: float, high: float, function: str) -> float:
    """The delay before retry k (0-based) of the n retries of a backoff phase.

    The guide fixes the ends ("minDelayTarget - Defines the delay associated
    with the first retry attempt in the backoff phase", "maxDelayTarget - ...
    the final retry attempt") and one linear case ("3 retries ... a minimum
    delay of 20 seconds, and a maximum delay of 40 seconds ... after 20
    seconds, ... 30 seconds, and ... 40 seconds", the DeliveryPolicies page
    of 2019). Between the ends it only draws the four curves ("Backoff phase"
    graph: 10 retries from 5 to 260 s; linear is straight, and arithmetic,
    geometric and exponential bend ever more, keeping low longer and rising
    late). AWS publishes no formula, so these are read from the names:

      linear       d = low + (high - low) * t,  t = k / (n - 1)
      arithmetic   the steps between delays grow by a constant (1, 2, 3, ...
                   times a step): d = low + (high - low) * k(k+1) / (n(n-1))
      geometric    each delay is the last times a constant ratio:
                   d = low * (high / low) ** t
      exponential  the excess over the first delay doubles, plus one step, at
                   each retry (classic base-2 backoff fitted to the ends):
                   d = low + (high - low) * (2**k - 1) / (2**(n-1) - 1)

    For the graph's numbers this keeps the graph's order: at retry 5, linear
    118 s, arithmetic 61.7 s, geometric 29 s, exponential 12.5 s. (Geometric
    and exponential agree when high / low is 2 ** (n - 1).) A phase of one
    retry waits minDelayTarget. No jitter: SNS jitters its retries ("Amazon
    SNS applies jittering to delivery retries"), but a fixed schedule lets
    tests on the virtual clock know when each retry falls. Delays are rounded
    to the millisecond.
    """
    if not 0 <= k < n:
        raise IndexError(k)
    if n == 1 or low == high:
        return float(low)
    span = high - low
    function = function.lower()
    if function == "linear":
        delay = low + span * k / (n - 1)
    elif function == "arithmetic":
        delay = low + span * k * (k + 1) / (n * (n - 1))
    elif function == "geometric":
        delay = low * (high / low) ** (k / (n - 1))
    elif function == "exponential":
        delay = low + span * (2 ** k - 1) / (2 ** (n - 1) - 1)
    else:
        raise ValueError(f"unknown backoff function {function!r}")
    return round(delay, 3)


@dataclass(frozen=True)
class RetrySchedule:
    """The four phases of a delivery policy: numbers of retries in each and
    the delays. Compact, so the AWS-managed schedule's 100,015 retries need
    no list: `delay(i)` is the wait before retry i (0-based), iteration
    yields the delays in order, len() is the number of retries."""

    no_delay: int          # immediate retry phase
    min_delay_retries: int  # pre-backoff phase, min_delay apart
    backoff: int           # backoff phase, min_delay .. max_delay
    max_delay_retries: int  # post-backoff phase, max_delay apart
    min_delay: float
    max_delay: float
    function: str = "linear"

    @classmethod
    def from_policy(cls, policy: dict) -> RetrySchedule:
        """From a retry policy, or an effective policy of either shape."""
        if "healthyRetryPolicy" in policy:
            policy = policy["healthyRetryPolicy"]
        elif "http" in policy:
            policy = policy["http"].get("defaultHealthyRetryPolicy")
        p = _filled(policy)
        phases = p["numNoDelayRetries"] + p["numMinDelayRetries"] + p["numMaxDelayRetries"]
        return cls(p["numNoDelayRetries"], p["numMinDelayRetries"], p["numRetries"] - phases,
                   p["numMaxDelayRetries"], p["minDelayTarget"], p["maxDelayTarget"], p["backoffFunction"])

    def __len__(self) -> int:
        return self.no_delay + self.min_delay_retries + self.backoff + self.max_delay_retries

    def delay(self, retry: int) -> float:
        if not 0 <= retry < len(self):
            raise IndexError(retry)
        if retry < self.no_delay:
            return 0.0
        retry -= self.no_delay
        if retry < self.min_delay_retries:
            return float(self.min_delay)
        retry -= self.min_delay_retries
        if retry < self.backoff:
            return backoff_delay(retry, self.backoff, self.min_delay, self.max_delay, self.function)
        return float(self.max_delay)

    def __iter__(self) -> Iterator[float]:
        return (self.delay(i) for i in range(len(self)))

    def total_seconds(self) -> float:
        """The sum of the delays (without the time the attempts take)."""
        curve = sum(backoff_delay(k, self.backoff, self.min_delay, self.max_delay, self.function)
                    for k in range(self.backoff))
        return round(self.min_delay * self.min_delay_retries + curve + self.max_delay * self.max_delay_retries, 3)


def retry_delays(effective: dict) -> list[float]:
    """The wait in seconds before each retry of an HTTP/S delivery (len ==
    numRetries): numNoDelayRetries zeros, numMinDelayRetries times
    minDelayTarget, the backoff phase (see backoff_delay), numMaxDelayRetries
    times maxDelayTarget. Each wait runs from the end of the failed attempt
    ("if the retry interval is 20 seconds and a request times out, the start
    of the next request is 35 seconds after the start of the request that
    timed out"). The caller also stops once the message has waited
    MAX_TOTAL_RETRY_SECONDS."""
    return list(RetrySchedule.from_policy(effective))


# The schedules SNS fixes for the other protocols ("Delivery protocols and
# policies" table). AWS-managed endpoints: 3 times without delay, 2 times 1 s
# apart, 10 times with exponential backoff from 1 s to 20 s, 100,000 times 20 s
# apart: 100,015 retries over 23 days. Customer-managed (SMTP, SMS, mobile
# push): 0, 2 times 10 s apart, 10 times from 10 s to 600 s, 38 times 600 s
# apart: 50 retries over 6 hours.
MANAGED_RETRY_SCHEDULE = RetrySchedule(3, 2, 10, 100_000, 1, 20, "exponential")
CUSTOMER_MANAGED_RETRY_SCHEDULE = RetrySchedule(0, 2, 10, 38, 10, 600, "exponential")

_SCHEDULES = MappingProxyType({
    "sqs": MANAGED_RETRY_SCHEDULE, "lambda": MANAGED_RETRY_SCHEDULE,
    # Firehose is AWS-managed, but "For throttling errors with the Firehose
    # protocol, Amazon SNS uses the same delivery policy as for customer managed
    # endpoints": the caller picks CUSTOMER_MANAGED_RETRY_SCHEDULE for those.
    "firehose": MANAGED_RETRY_SCHEDULE,
    "email": CUSTOMER_MANAGED_RETRY_SCHEDULE, "email-json": CUSTOMER_MANAGED_RETRY_SCHEDULE,
    "sms": CUSTOMER_MANAGED_RETRY_SCHEDULE, "application": CUSTOMER_MANAGED_RETRY_SCHEDULE,
})


def protocol_retry_schedule(protocol: str) -> RetrySchedule | None:
    """SNS's fixed schedule for a protocol; None for http/https, whose
    schedule is their delivery policy ("Only HTTP/S supports custom
    policies")."""
    if protocol in ("http", "https"):
        return None
    try:
        return _SCHEDULES[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}") from None


def throttle_interval(effective: dict) -> float | None:
    """Seconds to keep between deliveries to one subscription under its
    maxReceivesPerSecond ("The maximum number of deliveries per second, per
    subscription"), or None: no throttling by default."""
    throttle = effective.get("throttlePolicy")
    if throttle is None and "http" in effective:
        throttle = effective["http"].get("defaultThrottlePolicy")
    if not throttle:
        return None
    return 1.0 / throttle["maxReceivesPerSecond"]


# -- outcome of an HTTP/S attempt -------------------------------------------

DELIVERED, RETRY, FAILED = "delivered", "retry", "failed"


def classify_http_status(status: int) -> str:
    """What SNS makes of an HTTP/S endpoint's status code.

    "If your endpoint does not respond before the connection times out or if
    your endpoint returns a status code outside the range of 200-4xx, Amazon
    SNS will consider the delivery of the message as a failed attempt" and
    retries it (SendMessageToHttp.prepare); the 2019 page lists "HTTP status
    codes 100 to 101 and 500 to 599 (inclusive)" as retried and says "Amazon
    SNS considers HTTP status codes 400 to 499 to indicate permanent delivery
    failure". So 1xx and 5xx: RETRY; 2xx: DELIVERED; 4xx, 429 included (the
    guide makes no exception for it): FAILED, not retried, a client-side
    error that goes to the dead-letter queue if there is one ("Amazon SNS
    doesn't retry the message delivery that fails as a result of a
    client-side error"). 3xx is inside "200-4xx", so not retried either; SNS
    does not follow redirects, so it is FAILED here (inferred). Timeouts
    (REQUEST_TIMEOUT_SECONDS) and connection errors are always RETRY."""
    if 200 <= status < 300:
        return DELIVERED
    if 300 <= status < 500:
        return FAILED
    return RETRY


def is_retryable_http_status(status: int) -> bool:
    return classify_http_status(status) == RETRY
