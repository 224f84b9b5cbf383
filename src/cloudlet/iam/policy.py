"""Policy documents: validation with IAM's own messages, and compilation.

`parse_policy` checks a document the way the service that stores it does and
raises PolicyError with that service's MalformedPolicyDocument text. The
checks run in IAM's order, because the first failing check picks the message
a caller sees:

- identity (and boundary, session) policies follow IAM's managed-policy
  validator: syntax ("Syntax errors in policy."), Version, "legacy parsing",
  unique Sids, actions, resource ARN formats, action vendors, resources;
- resource policies (queue, topic, bucket, key policies) use the same
  grammar but need a Principal and may leave Resource out;
- trust policies (a role's AssumeRolePolicyDocument) use IAM's newer parser,
  whose messages differ ("Missing required field Principal", "Has prohibited
  field Resource", ...);
- SCPs answer every fault with Organizations' single message.

A valid document compiles into Statements whose patterns are built once, so
evaluating a request does no parsing. Each Statement records where it sits
in the text, as IAM's policy simulator reports it (see `_position`).
"""

from __future__ import annotations

import json
import re

from cloudlet.iam.conditions import compile_block, is_date_operator, split_operator, valid_date_literal
from cloudlet.iam.matching import Wildcards
from cloudlet.iam.variables import TEXT, is_static, parse_template, variable_keys

KINDS = ("identity", "resource", "trust", "boundary", "session", "scp")
VERSIONS = ("2008-10-17", "2012-10-17")
_TOP_FIELDS = {"Version", "Id", "Statement"}
_STATEMENT_FIELDS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource",
                     "Principal", "NotPrincipal", "Condition"}
_PRINCIPAL_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")
_PARTITIONS = {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
_VENDOR_BAD = re.compile(r"[^a-zA-Z0-9\-.]")
_ACCOUNT_ID = re.compile(r"\d{12}")
_IAM_PATHS = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
              "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/",
              "report/", "access-report/")

# Messages (the MalformedPolicyDocument texts the services answer with).
SYNTAX = "Syntax errors in policy."
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
OLD_VERSION = "Policy document must be version 2012-10-17 or greater."
LEGACY = "The policy failed legacy parsing"
DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
MISSING_PRINCIPAL = "Missing required field Principal"
EMPTY_PRINCIPAL = "Missing required field Principal cannot be empty!"
# Trust policies (IAM's AssumeRolePolicyDocument parser).
TRUST_JSON = "This policy contains invalid Json"
TRUST_SYNTAX = "Syntax error in policy."
TRUST_VERSION = "The policy must contain a valid version string"
TRUST_EMPTY = "Could not parse the policy: Statement is empty!"
TRUST_DUPLICATE_SID = "The Statement Ids in the policy are not unique"
TRUST_NO_EFFECT = "Missing required field Effect"
TRUST_NO_ACTION = "Missing required field Action"
TRUST_PRINCIPAL_OBJECT = "Principal must be a JSON object."
TRUST_ALLOW_NOT_PRINCIPAL = "Allow with NotPrincipal is not allowed."
TRUST_NOT_PRINCIPAL = "AssumeRole policy must not contain NotPrincipal field."
TRUST_STS_ONLY = "AssumeRole policy may only specify STS AssumeRole actions."
TRUST_RESOURCE = "Has prohibited field Resource"
TRUST_NOT_RESOURCE = "AssumeRole policy must not contain resources."
# Organizations answers every malformed SCP with one message.
SCP_INVALID = "The provided policy document does not meet the requirements of the specified policy type."


class PolicyError(Exception):
    """A malformed policy document; `message` is the text AWS answers with."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- compiled form -----------------------------------------------------------------

class Principals:
    """A Principal / NotPrincipal element, normalized for matching."""

    __slots__ = ("any", "accounts", "arns", "roles", "services", "federated", "canonical")

    def __init__(self, element):
        self.any = element == "*"
        self.accounts: set[str] = set()
        self.arns: set[str] = set()
        self.roles: set[str] = set()
        self.services: set[str] = set()
        self.federated: set[str] = set()
        self.canonical: set[str] = set()
        if not isinstance(element, dict):
            return
        for key, values in element.items():
            for v in _as_list(values):
                if key == "AWS":
                    if v == "*":
                        self.any = True
                    elif _ACCOUNT_ID.fullmatch(v):
                        self.accounts.add(v)
                    elif v.startswith("arn:") and v.endswith(":root") and v.count(":") == 5:
                        self.accounts.add(v.split(":")[4])
                    else:
                        self.arns.add(v)
                        if ":role/" in v:
                            self.roles.add(v)
                elif key == "Service":
                    if v == "*":
                        self.any = True
                    self.services.add(v.lower())
                elif key == "Federated":
                    self.federated.add(v)
                elif key == "CanonicalUser":
                    self.canonical.add(v)


class Resources:
    """A Resource / NotResource element: patterns without variables compiled
    now, those with variables compiled per request (see evaluate)."""

    __slots__ = ("static", "dynamic", "cache")

    def __init__(self, values: list[str], variables: bool):
        templates = [parse_template(v, variables) for v in values]
        self.static = Wildcards([t for t in templates if is_static(t)])
        self.dynamic = tuple(t for t in templates if not is_static(t))
        self.cache: dict = {}


class Statement:
    """One compiled statement. `actions`/`resources`/`principals` are None
    when the element is absent; `not_*` tells a Not element from its positive
    form; `start`/`end` are the simulator's (line, column) positions."""

    __slots__ = ("index", "sid", "effect", "allow", "actions", "not_action", "resources",
                 "not_resource", "principals", "not_principal", "conditions", "start", "end")

    def __repr__(self) -> str:
        return f"Statement({self.index}, sid={self.sid!r}, effect={self.effect})"


class Policy:
    """A parsed policy: the original text, and its compiled statements."""

    __slots__ = ("text", "document", "kind", "source", "version", "id", "statements")

    def __init__(self, text, document, kind, source, statements):
        self.text: str = text
        self.document: dict = document
        self.kind: str = kind
        self.source: str = source
        self.version: str | None = document.get("Version")
        self.id: str | None = document.get("Id")
        self.statements: tuple[Statement, ...] = statements

    def __repr__(self) -> str:
        return f"Policy({self.kind}, {self.source!r}, {len(self.statements)} statements)"

    def context_keys(self) -> list[str]:
        """The condition keys and policy-variable keys the policy reads, in
        order of appearance (GetContextKeysForCustomPolicy)."""
        keys: dict[str, None] = {}
        for st in self.statements:
            if st.resources is not None:
                for template in st.resources.dynamic:
                    keys.update(dict.fromkeys(variable_keys(template)))
            for test in st.conditions:
                keys[test.key] = None
                keys.update(dict.fromkeys(test.variable_keys()))
        return list(keys)


# -- entry point ---------------------------------------------------------------

def parse_policy(document: str | dict, kind: str = "identity", source: str = "") -> Policy:
    """Validate and compile a policy document of the given kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    doc = _INVALID
    if isinstance(document, dict):
        try:
            text = json.dumps(document)
            doc = document
        except (TypeError, ValueError):
            text = ""
    else:
        text = document.decode("utf-8", "replace") if isinstance(document, (bytes, bytearray)) else str(document)
        try:
            doc = json.loads(text)
        except ValueError:
            pass
    try:
        if kind == "trust":
            _validate_trust(doc)
        else:
            _validate(doc, kind)
    except PolicyError as exc:
        if kind == "scp":
            raise PolicyError(SCP_INVALID) from None
        raise exc from None
    return Policy(text, doc, kind, source, _compile(text, doc, kind))


_INVALID = object()


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _statements(doc) -> list:
    st = doc.get("Statement")
    return [st] if isinstance(st, dict) else list(st)


# -- IAM's grammar (identity, boundary, session, resource, scp) ------------------

def _validate(doc, kind: str) -> None:
    if not _syntax_ok(doc, kind):
        raise PolicyError(SYNTAX)
    statements = _statements(doc)
    principal_kind = kind == "resource"
    if not principal_kind and any("Principal" in s or "NotPrincipal" in s for s in statements):
        raise PolicyError(NO_PRINCIPAL_ALLOWED)
    if kind in ("identity", "boundary") and doc.get("Version") != "2012-10-17":
        raise PolicyError(OLD_VERSION)

    resource_error = _legacy_parse(statements)

    sids = set()
    for s in statements:
        sid = s.get("Sid")
        if sid:
            if sid in sids:
                raise PolicyError(DUPLICATE_SID)
            sids.add(sid)
    for s in statements:
        if not _as_list(s.get("Action", s.get("NotAction", []))):
            raise PolicyError(NO_ACTIONS)
    if principal_kind:
        for s in statements:
            _check_principal(s, MISSING_PRINCIPAL, EMPTY_PRINCIPAL, SYNTAX)
    if resource_error:
        raise PolicyError(resource_error)
    for key in ("Action", "NotAction"):
        for s in statements:
            for action in _as_list(s.get(key, [])):
                _check_vendor(action)
    if not principal_kind:
        for s in statements:
            if not _as_list(s.get("Resource", s.get("NotResource", []))):
                raise PolicyError(NO_RESOURCES)


def _syntax_ok(doc, kind: str) -> bool:
    if not isinstance(doc, dict) or any(k not in _TOP_FIELDS for k in doc):
        return False
    if "Version" in doc and doc["Version"] not in VERSIONS:
        return False
    if "Id" in doc and not isinstance(doc["Id"], str):
        return False
    st = doc.get("Statement")
    if not isinstance(st, (dict, list)) or not st:
        return False
    for s in _statements(doc):
        if not isinstance(s, dict) or any(k not in _STATEMENT_FIELDS for k in s):
            return False
        if ("Action" in s and "NotAction" in s) or ("Resource" in s and "NotResource" in s) \
                or ("Principal" in s and "NotPrincipal" in s):
            return False
        effect = s.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            return False
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in s and not _strings(s[key]):
                return False
        if "Sid" in s and not isinstance(s["Sid"], str):
            return False
        if "Condition" in s and not _condition_ok(s["Condition"]):
            return False
        for key in ("Principal", "NotPrincipal"):
            if key in s and not _principal_shape_ok(s[key]):
                return False
    return True


def _strings(value) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _condition_ok(block) -> bool:
    """A Condition is {operator: {key: value | [values]}}; an operator IAM
    does not know is allowed only with an empty block."""
    if not isinstance(block, dict):
        return False
    for operator, pairs in block.items():
        if not isinstance(pairs, dict):
            return False
        for values in pairs.values():
            if isinstance(values, list):
                if not all(_scalar(v) for v in values):
                    return False
            elif not _scalar(values):
                return False
        if pairs and split_operator(operator) is None:
            return False
    return True


def _principal_shape_ok(element) -> bool:
    if isinstance(element, str):
        return True
    if not isinstance(element, dict):
        return False
    return all(_strings(v) for v in element.values())


def _legacy_parse(statements: list) -> str:
    """IAM's "legacy parsing" pass. Raises for a case-variant Effect, a bad
    Date value or a resource with an empty service; returns the first
    resource-format message, which IAM reports later than the others."""
    for s in statements:
        if s["Effect"] not in ("Allow", "Deny"):
            raise PolicyError(LEGACY)
        for operator, pairs in (s.get("Condition") or {}).items():
            if is_date_operator(operator):
                for values in pairs.values():
                    for v in _as_list(values):
                        if not valid_date_literal(str(v)):
                            raise PolicyError(LEGACY)
    error = ""
    for s in statements:
        for key in ("Resource", "NotResource"):
            if key not in s:
                continue
            values = s[key]
            # IAM checks a list in reverse sorted order; the last fault wins.
            for r in (sorted(values, reverse=True) if isinstance(values, list) else [values]):
                error = _resource_format(r) or error
            if not error:
                for r in _as_list(values):
                    if r != "*" and ((r.count(":") < 5 and "::" in r) or _field(r, 2) == ""):
                        raise PolicyError(LEGACY)
    return error


def _field(arn: str, i: int) -> str | None:
    parts = arn.split(":")
    return parts[i] if i < len(parts) else ""


def _resource_format(resource: str) -> str:
    """The message IAM gives for a malformed Resource value, or ""."""
    if resource == "*":
        return ""
    head, colon, rest = resource.partition(":")
    if not colon:
        return f'Resource {resource} must be in ARN format or "*".'
    partition, colon, rest = rest.partition(":")
    if partition != "*" and partition not in _PARTITIONS:
        parts = rest.split(":")
        a1 = parts[0] if parts[0] != "" or len(parts) > 1 else "*"
        a2 = parts[1] if len(parts) > 1 else "*"
        a3 = parts[2] if len(parts) > 2 else "*"
        a4 = ":".join(parts[3:]) if len(parts) > 3 else "*"
        return f'Partition "{partition}" is not valid for resource "arn:{partition}:{a1}:{a2}:{a3}:{a4}".'
    if not colon:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, _, region_on = rest.partition(":")
    _, _, account_on = region_on.partition(":")
    _, _, resource_id = account_on.partition(":")
    if service == "iam" and not region_on.startswith(":"):
        return f"IAM resource {resource} cannot contain region information."
    if service == "s3" and not region_on.startswith(":") and not resource_id.startswith("accesspoint/"):
        return f"Resource {resource} can not contain region information."
    if service == "iam" and resource_id not in ("*", "root") and not resource_id.startswith(_IAM_PATHS):
        return ('IAM resource path must either be "*", root, or start with '
                + ", ".join(_IAM_PATHS) + ".")
    return ""


def _check_vendor(action: str) -> None:
    parts = action.split(":")
    if len(parts) == 1 and parts[0] != "*":
        raise PolicyError(NO_VENDOR)
    if len(parts) > 2:
        raise PolicyError(ONE_COLON)
    vendor = parts[0]
    if vendor != "*" and (vendor == "" or _VENDOR_BAD.search(vendor)):
        raise PolicyError(f"Vendor {vendor} is not valid")


def _check_principal(s: dict, missing: str, empty: str, syntax: str, keys=_PRINCIPAL_KEYS) -> None:
    """Principal rules shared by resource and trust policies."""
    if "Principal" not in s and "NotPrincipal" not in s:
        raise PolicyError(missing)
    element = s.get("Principal", s.get("NotPrincipal"))
    if isinstance(element, str):
        if element != "*":
            raise PolicyError(TRUST_PRINCIPAL_OBJECT)
        return
    if not isinstance(element, dict):
        raise PolicyError(syntax)
    if not element:
        raise PolicyError(empty)
    for key, values in element.items():
        if key not in keys:
            raise PolicyError(f'Invalid principal in policy: "{key}"')
        if not _strings(values):
            raise PolicyError(syntax)
        if key == "AWS":
            for v in _as_list(values):
                if not (v == "*" or _ACCOUNT_ID.fullmatch(v) or (v.startswith("arn:") and v.count(":") >= 5)):
                    raise PolicyError(f'Invalid principal in policy: "AWS":"{v}"')


# -- trust policies ------------------------------------------------------------------

def _validate_trust(doc) -> None:
    if not isinstance(doc, dict):
        raise PolicyError(TRUST_JSON)
    if any(k not in _TOP_FIELDS for k in doc):
        raise PolicyError(TRUST_SYNTAX)
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise PolicyError(TRUST_VERSION)
    st = doc.get("Statement")
    if st is None or (isinstance(st, (dict, list)) and not st):
        raise PolicyError(TRUST_EMPTY)
    if not isinstance(st, (dict, list)):
        raise PolicyError(TRUST_SYNTAX)
    statements = _statements(doc)
    sids = set()
    for s in statements:
        _validate_trust_statement(s)
        sid = s.get("Sid")
        if sid:
            if sid in sids:
                raise PolicyError(TRUST_DUPLICATE_SID)
            sids.add(sid)


def _validate_trust_statement(s) -> None:
    if not isinstance(s, dict) or any(k not in _STATEMENT_FIELDS for k in s):
        raise PolicyError(TRUST_SYNTAX)
    if "Sid" in s and not isinstance(s["Sid"], str):
        raise PolicyError(TRUST_SYNTAX)
    effect = s.get("Effect")
    if effect is None:
        raise PolicyError(TRUST_NO_EFFECT)
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Invalid effect: {effect}")
    if "NotPrincipal" in s:
        raise PolicyError(TRUST_ALLOW_NOT_PRINCIPAL if effect == "Allow" else TRUST_NOT_PRINCIPAL)
    # A role cannot trust an S3 canonical user.
    _check_principal(s, MISSING_PRINCIPAL, EMPTY_PRINCIPAL, TRUST_SYNTAX, _PRINCIPAL_KEYS[:3])
    if "Condition" in s and not _condition_ok(s["Condition"]):
        raise PolicyError(TRUST_SYNTAX)
    if "Action" in s and "NotAction" in s:
        raise PolicyError(TRUST_SYNTAX)
    actions = s.get("Action", s.get("NotAction"))
    if actions is None or actions == []:
        raise PolicyError(TRUST_NO_ACTION)
    if not _strings(actions):
        raise PolicyError(TRUST_SYNTAX)
    for action in _as_list(actions):
        if not action.lower().startswith("sts:"):
            raise PolicyError(TRUST_STS_ONLY)
    if "Resource" in s:
        raise PolicyError(TRUST_RESOURCE)
    if "NotResource" in s:
        raise PolicyError(TRUST_NOT_RESOURCE)


# -- compilation --------------------------------------------------------------------

def _compile(text: str, doc: dict, kind: str) -> tuple[Statement, ...]:
    variables = doc.get("Version") == "2012-10-17"
    spans = _statement_spans(text)
    compiled = []
    for i, s in enumerate(_statements(doc)):
        st = Statement()
        st.index = i
        st.sid = s.get("Sid") or None
        st.effect = s["Effect"]
        st.allow = s["Effect"] == "Allow"
        if "Action" in s or "NotAction" in s:
            st.not_action = "NotAction" in s
            actions = _as_list(s.get("Action", s.get("NotAction")))
            # Actions never hold variables; `*` and `?` are wildcards.
            st.actions = Wildcards([((TEXT, a),) for a in actions], ignore_case=True)
        else:
            st.actions, st.not_action = None, False
        if "Resource" in s or "NotResource" in s:
            st.not_resource = "NotResource" in s
            st.resources = Resources(_as_list(s.get("Resource", s.get("NotResource"))), variables)
        else:
            st.resources, st.not_resource = None, False  # resource policies: the resource itself
        if "Principal" in s or "NotPrincipal" in s:
            st.not_principal = "NotPrincipal" in s
            st.principals = Principals(s.get("Principal", s.get("NotPrincipal")))
        else:
            st.principals, st.not_principal = None, False
        st.conditions = compile_block(s.get("Condition") or {}, variables)
        start, end = spans[i] if i < len(spans) else (0, len(text))
        st.start = _position(text, start + 1)
        st.end = _position(text, end)
        compiled.append(st)
    return tuple(compiled)


def _position(text: str, offset: int) -> tuple[int, int]:
    """(line, column), both from 1, of a character offset. IAM's simulator
    reports a statement from just after its `{` to just after its `}`:
    for `{"Version":"2012-10-17","Statement":{...}}` on one line the
    statement starts at column 38 (its `{` is the 37th character)."""
    line = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start + 1


_WS = re.compile(r"[ \t\n\r]*")


def _statement_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each statement object in the JSON text: the
    index of its `{` and the index after its `}`."""
    decode = json.JSONDecoder().raw_decode
    skip = _WS.match
    spans: list[tuple[int, int]] = []
    i = skip(text, 0).end()
    if i >= len(text) or text[i] != "{":
        return spans
    i += 1
    while True:
        i = skip(text, i).end()
        if text[i] == "}":
            return spans
        key, i = decode(text, i)
        i = skip(text, i).end() + 1  # the colon
        i = skip(text, i).end()
        if key == "Statement" and text[i] == "{":
            _, end = decode(text, i)
            spans = [(i, end)]
            i = end
        elif key == "Statement" and text[i] == "[":
            spans = []
            i += 1
            while True:
                i = skip(text, i).end()
                if text[i] == "]":
                    i += 1
                    break
                _, end = decode(text, i)
                spans.append((i, end))
                i = skip(text, end).end()
                if text[i] == ",":
                    i += 1
        else:
            _, i = decode(text, i)
        i = skip(text, i).end()
        if text[i] == ",":
            i += 1
