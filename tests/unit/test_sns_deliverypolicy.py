"""SNS delivery policies (cloudlet.services.sns.deliverypolicy).

Recorded cases are AWS's own answers: error texts quoted in issue threads
and tests run against AWS (named per row), and the stored / effective shapes
of LocalStack's AWS-validated snapshots (tests/aws/services/sns/
test_sns.snapshot.json). The other error texts and the backoff curves
between their ends are this module's decisions (see its docstrings); their
rows pin them down so that a change is deliberate.
"""

from __future__ import annotations

import itertools
import json

import pytest

from cloudlet.services.sns.deliverypolicy import (
    CUSTOMER_MANAGED_RETRY_SCHEDULE,
    DEFAULT_CONTENT_TYPE,
    DELIVERED,
    FAILED,
    MANAGED_RETRY_SCHEDULE,
    RETRY,
    DeliveryPolicyError,
    RetrySchedule,
    backoff_delay,
    classify_http_status,
    effective_policy,
    effective_topic_policy,
    is_retryable_http_status,
    protocol_retry_schedule,
    retry_delays,
    throttle_interval,
    validate_subscription_policy,
    validate_topic_policy,
)

DEFAULT_RETRY = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
                 "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"}
# The guide's example ("Creating an HTTP/S delivery policy").
DOC_EXAMPLE = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50,
                                      "numNoDelayRetries": 3, "numMinDelayRetries": 2, "numMaxDelayRetries": 35,
                                      "backoffFunction": "exponential"},
               "throttlePolicy": {"maxReceivesPerSecond": 10}}


def retry(**fields) -> dict:
    return {"minDelayTarget": 5, "maxDelayTarget": 10, "numRetries": 3, **fields}


def sub_error(doc) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(DeliveryPolicyError) as info:
        validate_subscription_policy(text)
    return info.value.message


def topic_error(doc) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(DeliveryPolicyError) as info:
        validate_topic_policy(text)
    return info.value.message


# -- validation: AWS's recorded answers -------------------------------------

def test_recorded_errors():
    # Terraform PR #3289: the guide's own example is rejected.
    assert sub_error({"healthyRetryPolicy": {"numRetries": 5}}) == \
        "DeliveryPolicy: healthyRetryPolicy.minDelayTarget must be specified"
    # awsdocs PR #5 (through CloudFormation, so "Attributes Reason: " in front).
    zeros = {"healthyRetryPolicy": {"numRetries": 0, "minDelayTarget": 0, "maxDelayTarget": 0, "numMinDelayRetries": 0,
                                    "numMaxDelayRetries": 0, "numNoDelayRetries": 0, "backoffFunction": "exponential"}}
    with pytest.raises(DeliveryPolicyError) as info:
        validate_subscription_policy(json.dumps(zeros))
    assert info.value.api_message(in_attributes=True) == ("Invalid parameter: Attributes Reason: DeliveryPolicy: "
                                                          "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1")
    # Ballerina SNS connector, CreateTopic against AWS.
    ballerina = {"http": {"defaultHealthyRetryPolicy": {
        "minDelayTarget": 10, "maxDelayTarget": 20, "numRetries": 300, "numNoDelayRetries": 1, "numMinDelayRetries": 1,
        "numMaxDelayRetries": 1, "backoffFunction": "linear"}, "disableSubscriptionOverrides": True,
        "defaultRequestPolicy": {"headerContentType": "application/json"}}}
    assert topic_error(ballerina) == "DeliveryPolicy: http.defaultHealthyRetryPolicy.numRetries must be less than or equal to 100"
    # ansible community.aws PR #716, SetTopicAttributes.
    with pytest.raises(DeliveryPolicyError) as info:
        validate_topic_policy(json.dumps({"http": {"defaultHealthyRetryPolicy": {
            "minDelayTarget": "20", "maxDelayTarget": 20, "numRetries": 3}}}))
    assert info.value.api_message() == ("Invalid parameter: DeliveryPolicy: http.defaultHealthyRetryPolicy.minDelayTarget "
                                        "type mismatch, expecting integer, received a string")


# -- validation: the rest of the rules --------------------------------------

SUB_ERRORS = [
    # required fields, in order
    ({"healthyRetryPolicy": {"minDelayTarget": 1}}, "healthyRetryPolicy.maxDelayTarget must be specified"),
    ({"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 2}}, "healthyRetryPolicy.numRetries must be specified"),
    ({"healthyRetryPolicy": retry(minDelayTarget=None)}, "healthyRetryPolicy.minDelayTarget must be specified"),
    # ranges
    ({"healthyRetryPolicy": retry(maxDelayTarget=0, minDelayTarget=0)},
     "healthyRetryPolicy.minDelayTarget must be greater than or equal to 1"),
    ({"healthyRetryPolicy": retry(maxDelayTarget=3601)}, "healthyRetryPolicy.maxDelayTarget must be less than or equal to 3600"),
    ({"healthyRetryPolicy": retry(numRetries=101)}, "healthyRetryPolicy.numRetries must be less than or equal to 100"),
    ({"healthyRetryPolicy": retry(numRetries=-1)}, "healthyRetryPolicy.numRetries must be greater than or equal to 0"),
    ({"healthyRetryPolicy": retry(numNoDelayRetries=-1)},
     "healthyRetryPolicy.numNoDelayRetries must be greater than or equal to 0"),
    ({"healthyRetryPolicy": retry(numMinDelayRetries=-2)},
     "healthyRetryPolicy.numMinDelayRetries must be greater than or equal to 0"),
    ({"healthyRetryPolicy": retry(numMaxDelayRetries=-3)},
     "healthyRetryPolicy.numMaxDelayRetries must be greater than or equal to 0"),
    # cross-field
    ({"healthyRetryPolicy": retry(minDelayTarget=11)},
     "healthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget"),
    ({"healthyRetryPolicy": retry(numNoDelayRetries=1, numMinDelayRetries=1, numMaxDelayRetries=2)},
     ("healthyRetryPolicy.numRetries must be greater than or equal to total of numMinDelayRetries, "
      "numNoDelayRetries and numMaxDelayRetries")),
    # backoffFunction
    ({"healthyRetryPolicy": retry(backoffFunction="cubic")},
     "healthyRetryPolicy.backoffFunction must be one of linear, arithmetic, geometric, exponential"),
    ({"healthyRetryPolicy": retry(backoffFunction="")},
     "healthyRetryPolicy.backoffFunction must be one of linear, arithmetic, geometric, exponential"),
    ({"healthyRetryPolicy": retry(backoffFunction=1)},
     "healthyRetryPolicy.backoffFunction type mismatch, expecting string, received an integer"),
    # types
    ({"healthyRetryPolicy": retry(numRetries=1.5)}, "healthyRetryPolicy.numRetries type mismatch, expecting integer, received a number"),
    ({"healthyRetryPolicy": retry(numRetries=3.0)}, "healthyRetryPolicy.numRetries type mismatch, expecting integer, received a number"),
    ({"healthyRetryPolicy": retry(numRetries=True)},
     "healthyRetryPolicy.numRetries type mismatch, expecting integer, received a boolean"),
    ({"healthyRetryPolicy": 5}, "healthyRetryPolicy type mismatch, expecting object, received an integer"),
    ({"healthyRetryPolicy": []}, "healthyRetryPolicy type mismatch, expecting object, received an array"),
    ({"guaranteed": "false"}, "guaranteed type mismatch, expecting boolean, received a string"),
    # the sickly policy is checked like the healthy one
    ({"sicklyRetryPolicy": retry(numRetries=101)}, "sicklyRetryPolicy.numRetries must be less than or equal to 100"),
    # throttle and request policies
    ({"throttlePolicy": {"maxReceivesPerSecond": 0}}, "throttlePolicy.maxReceivesPerSecond must be greater than or equal to 1"),
    ({"throttlePolicy": {}}, "throttlePolicy.maxReceivesPerSecond must be specified"),
    ({"throttlePolicy": {"maxReceivesPerSecond": "10"}},
     "throttlePolicy.maxReceivesPerSecond type mismatch, expecting integer, received a string"),
    ({"requestPolicy": {"headerContentType": "text/bogus"}},
     "requestPolicy.headerContentType text/bogus is not a supported content type"),
    ({"requestPolicy": {"headerContentType": "application/json; charset=latin1"}},
     "requestPolicy.headerContentType application/json; charset=latin1 is not a supported content type"),
    ({"requestPolicy": {"headerContentType": 7}},
     "requestPolicy.headerContentType type mismatch, expecting string, received an integer"),
    ({"requestPolicy": {}}, "requestPolicy.headerContentType must be specified"),
    # unknown attributes, at every level
    ({"bogus": 1}, "invalid JSON. Attribute bogus is unknown."),
    ({"http": {}}, "invalid JSON. Attribute http is unknown."),  # the topic form is not a subscription form
    ({"healthyRetryPolicy": retry(numRetry=3)}, "invalid JSON. Attribute healthyRetryPolicy.numRetry is unknown."),
    ({"throttlePolicy": {"maxReceivesPerSecond": 1, "burst": 2}}, "invalid JSON. Attribute throttlePolicy.burst is unknown."),
    ({"requestPolicy": {"headerContentType": "text/plain", "charset": "x"}},
     "invalid JSON. Attribute requestPolicy.charset is unknown."),
    # not a JSON object
    ("{", "failed to parse JSON."),
    ("[]", "failed to parse JSON."),
    ("null", "failed to parse JSON."),
    ('"x"', "failed to parse JSON."),
    ("", "failed to parse JSON."),
]


@pytest.mark.parametrize(("doc", "message"), SUB_ERRORS)
def test_subscription_errors(doc, message):
    assert sub_error(doc) == "DeliveryPolicy: " + message


TOPIC_ERRORS = [
    ({"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}},
     "http.defaultHealthyRetryPolicy.minDelayTarget must be specified"),
    ({"http": {"defaultHealthyRetryPolicy": retry(minDelayTarget=20)}},
     "http.defaultHealthyRetryPolicy.maxDelayTarget must be greater than or equal to minDelayTarget"),
    ({"http": {"disableSubscriptionOverrides": "yes"}},
     "http.disableSubscriptionOverrides type mismatch, expecting boolean, received a string"),
    ({"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": 0}}},
     "http.defaultThrottlePolicy.maxReceivesPerSecond must be greater than or equal to 1"),
    ({"http": {"defaultRequestPolicy": {"headerContentType": "image/png"}}},
     "http.defaultRequestPolicy.headerContentType image/png is not a supported content type"),
    ({"http": {"bogus": 1}}, "invalid JSON. Attribute http.bogus is unknown."),
    ({"https": {}}, "invalid JSON. Attribute https is unknown."),
    ({"healthyRetryPolicy": retry()}, "invalid JSON. Attribute healthyRetryPolicy is unknown."),
    ({"http": "x"}, "http type mismatch, expecting object, received a string"),
    ("{} {}", "failed to parse JSON."),
]


@pytest.mark.parametrize(("doc", "message"), TOPIC_ERRORS)
def test_topic_errors(doc, message):
    assert topic_error(doc) == "DeliveryPolicy: " + message


def test_api_message_prefixes():
    error = DeliveryPolicyError("DeliveryPolicy: failed to parse JSON.")
    assert error.api_message() == "Invalid parameter: DeliveryPolicy: failed to parse JSON."
    assert error.api_message(in_attributes=True) == "Invalid parameter: Attributes Reason: DeliveryPolicy: failed to parse JSON."


@pytest.mark.parametrize("ctype", [
    "application/atom+xml", "application/json", "application/octet-stream", "application/soap+xml",
    "application/x-www-form-urlencoded", "application/xhtml+xml", "application/xml",
    "text/css", "text/csv", "text/html", "text/plain", "text/xml",
    DEFAULT_CONTENT_TYPE, "application/json; charset=utf-8"])
def test_content_types_accepted(ctype):
    doc = validate_subscription_policy(json.dumps({"requestPolicy": {"headerContentType": ctype}}))
    assert doc["requestPolicy"] == {"headerContentType": ctype}


# -- validation: the stored forms -------------------------------------------

TOPIC_STORED = [
    # recorded (test_topic_delivery_policy_crud)
    ({"http": {"defaultRequestPolicy": {"headerContentType": "application/json"}}},
     {"http": {"disableSubscriptionOverrides": False, "defaultRequestPolicy": {"headerContentType": "application/json"}}}),
    ({"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1}}},
     {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1},
               "disableSubscriptionOverrides": False}}),
    ({"http": {"defaultHealthyRetryPolicy": None}}, {"http": {"disableSubscriptionOverrides": False}}),
    # a full policy comes back in SNS's key order (numMaxDelayRetries first of the phase counts)
    ({"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 30, "numRetries": 10,
                                             "numNoDelayRetries": 1, "numMinDelayRetries": 2, "numMaxDelayRetries": 3,
                                             "backoffFunction": "exponential"},
               "disableSubscriptionOverrides": False, "defaultThrottlePolicy": {"maxReceivesPerSecond": 5},
               "defaultRequestPolicy": {"headerContentType": "application/json"}}},
     {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 30, "numRetries": 10,
                                             "numMaxDelayRetries": 3, "numNoDelayRetries": 1, "numMinDelayRetries": 2,
                                             "backoffFunction": "exponential"},
               "disableSubscriptionOverrides": False, "defaultThrottlePolicy": {"maxReceivesPerSecond": 5},
               "defaultRequestPolicy": {"headerContentType": "application/json"}}}),
    ({"http": {}}, {"http": {"disableSubscriptionOverrides": False}}),
    ({}, {}),
    # the phases may use up every retry (no backoff phase left)
    ({"http": {"defaultHealthyRetryPolicy": retry(numNoDelayRetries=1, numMinDelayRetries=1, numMaxDelayRetries=1)}},
     {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 10, "numRetries": 3,
                                             "numMaxDelayRetries": 1, "numNoDelayRetries": 1, "numMinDelayRetries": 1},
               "disableSubscriptionOverrides": False}}),
]


@pytest.mark.parametrize(("doc", "stored"), TOPIC_STORED)
def test_topic_stored_form(doc, stored):
    got = validate_topic_policy(json.dumps(doc))
    assert got == stored
    assert json.dumps(got) == json.dumps(stored)  # key order too
    assert validate_topic_policy(json.dumps(got)) == got  # stable


SUB_STORED = [
    # recorded (test_subscribe_external_http_endpoint_content_type)
    ({"requestPolicy": {"headerContentType": "text/csv"}},
     {"healthyRetryPolicy": None, "sicklyRetryPolicy": None, "throttlePolicy": None,
      "requestPolicy": {"headerContentType": "text/csv"}, "guaranteed": False}),
    ({"healthyRetryPolicy": {**DEFAULT_RETRY, "minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 0},
      "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 1000}, "guaranteed": False},
     {"healthyRetryPolicy": {**DEFAULT_RETRY, "minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 0},
      "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 1000}, "requestPolicy": None,
      "guaranteed": False}),
    ({}, {"healthyRetryPolicy": None, "sicklyRetryPolicy": None, "throttlePolicy": None, "requestPolicy": None,
          "guaranteed": False}),
    (DOC_EXAMPLE,
     {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50, "numMaxDelayRetries": 35,
                             "numNoDelayRetries": 3, "numMinDelayRetries": 2, "backoffFunction": "exponential"},
      "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 10}, "requestPolicy": None,
      "guaranteed": False}),
]


@pytest.mark.parametrize(("doc", "stored"), SUB_STORED)
def test_subscription_stored_form(doc, stored):
    got = validate_subscription_policy(json.dumps(doc))
    assert json.dumps(got) == json.dumps(stored)
    assert validate_subscription_policy(json.dumps(got)) == got


def test_total_retry_time_check_is_optional():
    # 5 retries at 3,600 s: far past the hour, but AWS's API was seen to take
    # such policies; only the console refuses them.
    long = {"healthyRetryPolicy": retry(minDelayTarget=3600, maxDelayTarget=3600, numRetries=5)}
    validate_subscription_policy(json.dumps(long))
    with pytest.raises(DeliveryPolicyError) as info:
        validate_subscription_policy(json.dumps(long), check_total_time=True)
    assert info.value.message == ("DeliveryPolicy: healthyRetryPolicy total retry time must be less than or equal to "
                                  "3600 seconds")
    with pytest.raises(DeliveryPolicyError):
        validate_topic_policy(json.dumps({"http": {"defaultHealthyRetryPolicy": long["healthyRetryPolicy"]}}),
                              check_total_time=True)
    # the guide's example fits: 2 * 1 + 127.0 + 35 * 60 = 2229 s
    validate_subscription_policy(json.dumps(DOC_EXAMPLE), check_total_time=True)
    assert RetrySchedule.from_policy(DOC_EXAMPLE).total_seconds() == 2228.959


# -- effective policies -----------------------------------------------------

DEFAULT_TOPIC_EFFECTIVE = {"http": {"defaultHealthyRetryPolicy": DEFAULT_RETRY, "disableSubscriptionOverrides": False,
                                    "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}


def stored_topic(doc):
    return validate_topic_policy(json.dumps(doc))


def stored_sub(doc):
    return validate_subscription_policy(json.dumps(doc))


def test_effective_topic_policy():
    # recorded: a new topic, and after each step of test_topic_delivery_policy_crud
    assert json.dumps(effective_topic_policy(None)) == json.dumps(DEFAULT_TOPIC_EFFECTIVE)
    json_topic = stored_topic({"http": {"defaultRequestPolicy": {"headerContentType": "application/json"}}})
    assert effective_topic_policy(json_topic) == {"http": {
        "defaultHealthyRetryPolicy": DEFAULT_RETRY, "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "application/json"}}}
    short = stored_topic({"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1}}})
    assert json.dumps(effective_topic_policy(short)) == json.dumps({"http": {
        "defaultHealthyRetryPolicy": {**DEFAULT_RETRY, "minDelayTarget": 5, "maxDelayTarget": 6, "numRetries": 1},
        "disableSubscriptionOverrides": False,
        "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}})
    assert effective_topic_policy(stored_topic({"http": {"defaultHealthyRetryPolicy": None}})) == DEFAULT_TOPIC_EFFECTIVE
    # a throttle shows between the flag and the request policy, as it is stored
    throttled = effective_topic_policy(stored_topic({"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": 2}}}))
    assert list(throttled["http"]) == ["defaultHealthyRetryPolicy", "disableSubscriptionOverrides",
                                       "defaultThrottlePolicy", "defaultRequestPolicy"]


JSON_TOPIC = {"http": {"defaultRequestPolicy": {"headerContentType": "application/json"}}}
FULL_TOPIC = {"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 30, "numRetries": 10,
                                                     "numNoDelayRetries": 1, "numMinDelayRetries": 2,
                                                     "numMaxDelayRetries": 3, "backoffFunction": "exponential"},
                       "defaultThrottlePolicy": {"maxReceivesPerSecond": 5},
                       "defaultRequestPolicy": {"headerContentType": "application/json"}}}
FULL_TOPIC_RETRY = {"minDelayTarget": 5, "maxDelayTarget": 30, "numRetries": 10, "numMaxDelayRetries": 3,
                    "numNoDelayRetries": 1, "numMinDelayRetries": 2, "backoffFunction": "exponential"}
SUB_RETRY = {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 0, "numMaxDelayRetries": 0,
             "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"}

EFFECTIVE = [
    # recorded [True]: no topic policy, the subscription sets only a content type
    ("sub content type over defaults", None, {"requestPolicy": {"headerContentType": "text/csv"}},
     {"healthyRetryPolicy": DEFAULT_RETRY, "sicklyRetryPolicy": None, "throttlePolicy": None,
      "requestPolicy": {"headerContentType": "text/csv"}, "guaranteed": False}),
    # recorded [False]: the subscription's retry and throttle, the topic's content type
    ("sections merge", JSON_TOPIC,
     {"healthyRetryPolicy": SUB_RETRY, "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 1000},
      "guaranteed": False},
     {"healthyRetryPolicy": SUB_RETRY, "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 1000},
      "requestPolicy": {"headerContentType": "application/json"}, "guaranteed": False}),
    ("nothing set", None, None,
     {"healthyRetryPolicy": DEFAULT_RETRY, "sicklyRetryPolicy": None, "throttlePolicy": None,
      "requestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}, "guaranteed": False}),
    ("topic only", FULL_TOPIC, None,
     {"healthyRetryPolicy": FULL_TOPIC_RETRY, "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 5},
      "requestPolicy": {"headerContentType": "application/json"}, "guaranteed": False}),
    ("partial sub retry section takes the defaults, not the topic's", FULL_TOPIC,
     {"healthyRetryPolicy": {"minDelayTarget": 2, "maxDelayTarget": 4, "numRetries": 2}},
     {"healthyRetryPolicy": {**DEFAULT_RETRY, "minDelayTarget": 2, "maxDelayTarget": 4, "numRetries": 2},
      "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 5},
      "requestPolicy": {"headerContentType": "application/json"}, "guaranteed": False}),
    ("disableSubscriptionOverrides", {**FULL_TOPIC, "http": {**FULL_TOPIC["http"], "disableSubscriptionOverrides": True}},
     {"healthyRetryPolicy": SUB_RETRY, "throttlePolicy": {"maxReceivesPerSecond": 1000},
      "requestPolicy": {"headerContentType": "text/xml"}, "guaranteed": True},
     {"healthyRetryPolicy": FULL_TOPIC_RETRY, "sicklyRetryPolicy": None, "throttlePolicy": {"maxReceivesPerSecond": 5},
      "requestPolicy": {"headerContentType": "application/json"}, "guaranteed": False}),
    ("sickly and guaranteed pass through", None,
     {"sicklyRetryPolicy": {"minDelayTarget": 2, "maxDelayTarget": 4, "numRetries": 2}, "guaranteed": True},
     {"healthyRetryPolicy": DEFAULT_RETRY,
      "sicklyRetryPolicy": {**DEFAULT_RETRY, "minDelayTarget": 2, "maxDelayTarget": 4, "numRetries": 2},
      "throttlePolicy": None, "requestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}, "guaranteed": True}),
]


@pytest.mark.parametrize(("name", "topic", "sub", "want"), EFFECTIVE, ids=[row[0] for row in EFFECTIVE])
def test_effective_policy(name, topic, sub, want):
    got = effective_policy(stored_topic(topic) if topic else None, stored_sub(sub) if sub else None)
    assert json.dumps(got) == json.dumps(want)


# -- retry schedules --------------------------------------------------------

def delays_for(**fields) -> list[float]:
    policy = {"healthyRetryPolicy": {**DEFAULT_RETRY, **fields}}
    return retry_delays(effective_policy(None, stored_sub(policy)))


# The guide's graph: 10 retries, 5 s to 260 s. Linear is the guide's straight
# line; the other three are this module's reading of the curves (backoff_delay).
GRAPH = {
    "linear": [5.0, 33.333, 61.667, 90.0, 118.333, 146.667, 175.0, 203.333, 231.667, 260.0],
    "arithmetic": [5.0, 10.667, 22.0, 39.0, 61.667, 90.0, 124.0, 163.667, 209.0, 260.0],
    "geometric": [5.0, 7.756, 12.031, 18.663, 28.949, 44.906, 69.658, 108.054, 167.612, 260.0],
    "exponential": [5.0, 5.499, 6.497, 8.493, 12.485, 20.47, 36.438, 68.376, 132.25, 260.0],
}


@pytest.mark.parametrize("function", list(GRAPH))
def test_backoff_graph(function):
    assert delays_for(minDelayTarget=5, maxDelayTarget=260, numRetries=10, backoffFunction=function) == GRAPH[function]


def test_backoff_curves_keep_the_graphs_order():
    # Each curve starts at the minimum, ends at the maximum, never falls, and
    # in between the four lie linear > arithmetic > geometric > exponential.
    for delays in GRAPH.values():
        assert delays == sorted(delays)
    for k in range(1, 9):
        column = [GRAPH[f][k] for f in ("linear", "arithmetic", "geometric", "exponential")]
        assert column == sorted(column, reverse=True) and len(set(column)) == 4


SCHEDULES = [
    # the default: "up to three retries with a delay between failed attempts set at 20 seconds"
    ({}, [20.0, 20.0, 20.0]),
    # the DeliveryPolicies page (2019): max 40, otherwise defaults -> 20, 30, 40
    ({"maxDelayTarget": 40}, [20.0, 30.0, 40.0]),
    # the curves by their definitions, on round numbers
    ({"minDelayTarget": 1, "maxDelayTarget": 21, "numRetries": 5, "backoffFunction": "arithmetic"},
     [1.0, 3.0, 7.0, 13.0, 21.0]),                       # steps 2, 4, 6, 8
    ({"minDelayTarget": 3, "maxDelayTarget": 48, "numRetries": 5, "backoffFunction": "geometric"},
     [3.0, 6.0, 12.0, 24.0, 48.0]),                      # ratio 2
    ({"minDelayTarget": 2, "maxDelayTarget": 1000, "numRetries": 3, "backoffFunction": "geometric"},
     [2.0, 44.721, 1000.0]),                             # ratio sqrt(500)
    ({"minDelayTarget": 10, "maxDelayTarget": 80, "numRetries": 4, "backoffFunction": "exponential"},
     [10.0, 20.0, 40.0, 80.0]),                          # excess + 10 doubles: 10, 20, 40, 80
    ({"minDelayTarget": 5, "maxDelayTarget": 12, "numRetries": 4, "backoffFunction": "exponential"},
     [5.0, 6.0, 8.0, 12.0]),                             # excess 0, 1, 3, 7
    # a backoff phase of one retry waits the minimum
    ({"minDelayTarget": 5, "maxDelayTarget": 9, "numRetries": 1, "backoffFunction": "geometric"}, [5.0]),
    ({"minDelayTarget": 5, "maxDelayTarget": 9, "numRetries": 0}, []),
    # all four phases: 1 immediate, 2 at 5 s, 4 backoff 5..30, 3 at 30 s
    ({"minDelayTarget": 5, "maxDelayTarget": 30, "numRetries": 10, "numNoDelayRetries": 1, "numMinDelayRetries": 2,
      "numMaxDelayRetries": 3}, [0.0, 5.0, 5.0, 5.0, 13.333, 21.667, 30.0, 30.0, 30.0, 30.0]),
    # the phases use up every retry: no backoff phase
    ({"minDelayTarget": 5, "maxDelayTarget": 30, "numRetries": 6, "numNoDelayRetries": 1, "numMinDelayRetries": 2,
      "numMaxDelayRetries": 3, "backoffFunction": "exponential"}, [0.0, 5.0, 5.0, 30.0, 30.0, 30.0]),
]


@pytest.mark.parametrize(("fields", "want"), SCHEDULES)
def test_retry_delays(fields, want):
    assert delays_for(**fields) == want


def test_backoff_function_case():
    # The CDK sends its enum names ("EXPONENTIAL"); they are taken, and kept as sent.
    doc = stored_sub({"healthyRetryPolicy": retry(minDelayTarget=5, maxDelayTarget=12, numRetries=4,
                                                  backoffFunction="EXPONENTIAL")})
    assert doc["healthyRetryPolicy"]["backoffFunction"] == "EXPONENTIAL"
    assert retry_delays(effective_policy(None, doc)) == [5.0, 6.0, 8.0, 12.0]


def test_doc_example_schedule():
    # "3 times immediately ..., 2 times (1 second apart) ..., 10 times (with
    # exponential backoff from 1 second to 60 seconds), 35 times (60 seconds apart)"
    delays = retry_delays(effective_policy(None, stored_sub(DOC_EXAMPLE)))
    assert len(delays) == 50
    assert delays[:5] == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert delays[5:15] == [1.0, 1.115, 1.346, 1.808, 2.732, 4.579, 8.274, 15.663, 30.442, 60.0]
    assert delays[15:] == [60.0] * 35


def test_schedule_from_any_shape():
    topic = stored_topic(FULL_TOPIC)
    want = [0.0, 5.0, 5.0, 5.0, 8.571, 15.714, 30.0, 30.0, 30.0, 30.0]  # 5 + 25 * (2**k - 1) / 7
    assert list(RetrySchedule.from_policy(effective_topic_policy(topic))) == want
    assert list(RetrySchedule.from_policy(topic["http"]["defaultHealthyRetryPolicy"])) == want
    assert retry_delays(effective_policy(topic, None)) == want


def test_managed_schedules():
    s = MANAGED_RETRY_SCHEDULE
    assert len(s) == 100_015  # "100,015 times, over 23 days"
    assert list(itertools.islice(s, 16)) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.037, 1.112, 1.26, 1.558, 2.153, 3.342,
                                             5.722, 10.481, 20.0, 20.0]
    assert s.delay(100_014) == 20.0
    with pytest.raises(IndexError):
        s.delay(100_015)
    assert 23 * 86400 < s.total_seconds() < 24 * 86400
    c = CUSTOMER_MANAGED_RETRY_SCHEDULE
    assert len(c) == 50  # "50 attempts, over 6 hours"
    assert list(c)[:12] == [10.0, 10.0, 10.0, 11.155, 13.464, 18.082, 27.319, 45.793, 82.74, 156.634, 304.423, 600.0]
    assert list(c)[12:] == [600.0] * 38
    assert 6 * 3600 < c.total_seconds() < 7 * 3600


@pytest.mark.parametrize(("protocol", "schedule"), [
    ("sqs", MANAGED_RETRY_SCHEDULE), ("lambda", MANAGED_RETRY_SCHEDULE), ("firehose", MANAGED_RETRY_SCHEDULE),
    ("email", CUSTOMER_MANAGED_RETRY_SCHEDULE), ("email-json", CUSTOMER_MANAGED_RETRY_SCHEDULE),
    ("sms", CUSTOMER_MANAGED_RETRY_SCHEDULE), ("application", CUSTOMER_MANAGED_RETRY_SCHEDULE),
    ("http", None), ("https", None)])
def test_protocol_schedules(protocol, schedule):
    assert protocol_retry_schedule(protocol) is schedule


def test_unknown_protocol():
    with pytest.raises(ValueError):
        protocol_retry_schedule("carrier-pigeon")


def test_backoff_delay_bounds():
    with pytest.raises(IndexError):
        backoff_delay(3, 3, 1, 2, "linear")
    with pytest.raises(ValueError):
        backoff_delay(0, 3, 1, 2, "cubic")
    # equal ends: every function is flat
    assert {backoff_delay(k, 4, 7, 7, f) for k in range(4) for f in GRAPH} == {7.0}


# -- throttling -------------------------------------------------------------

def test_throttle_interval():
    assert throttle_interval(effective_policy(None, None)) is None
    assert throttle_interval(effective_policy(None, stored_sub(DOC_EXAMPLE))) == 0.1
    topic = stored_topic({"http": {"defaultThrottlePolicy": {"maxReceivesPerSecond": 2}}})
    assert throttle_interval(effective_policy(topic, None)) == 0.5
    assert throttle_interval(effective_topic_policy(topic)) == 0.5
    assert throttle_interval(effective_policy(topic, stored_sub({"throttlePolicy": {"maxReceivesPerSecond": 4}}))) == 0.25


# -- HTTP status codes ------------------------------------------------------

STATUSES = [
    (100, RETRY), (101, RETRY),                      # "100 to 101 ... (inclusive)"
    (200, DELIVERED), (201, DELIVERED), (204, DELIVERED), (299, DELIVERED),
    (301, FAILED), (302, FAILED),                    # inside "200-4xx": not retried
    (400, FAILED), (403, FAILED), (404, FAILED), (429, FAILED), (499, FAILED),  # "permanent delivery failure"
    (500, RETRY), (502, RETRY), (503, RETRY), (504, RETRY), (599, RETRY),  # "500 to 599"
]


@pytest.mark.parametrize(("status", "outcome"), STATUSES)
def test_http_status(status, outcome):
    assert classify_http_status(status) == outcome
    assert is_retryable_http_status(status) == (outcome == RETRY)
