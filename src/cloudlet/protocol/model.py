"""botocore service models: loading, shape resolution and operation lookup.

The models are read straight from botocore's data directory (without
importing botocore, which costs a tenth of a second at start-up). A service
model is loaded on the first request for that service and kept by the
`ModelRegistry` the app owns; every protocol plan hangs off these objects, so
each is computed once per process.
"""

from __future__ import annotations

import importlib.util
import os
import re
import zlib
from functools import cached_property
from typing import Any, Iterable

import orjson

# Member-reference keys that change how a shape is put on the wire. A member
# reference carrying any of these gets a Shape of its own; one carrying none
# shares the canonical Shape of its target.
_REF_TRAITS = (
    "location", "locationName", "queryName", "xmlNamespace", "xmlAttribute",
    "flattened", "timestampFormat", "jsonvalue", "hostLabel", "eventheader",
    "eventpayload", "idempotencyToken", "streaming", "deprecated",
)


# Locations a response member can be bound to outside the body. A response
# member bound to the URI or query string has no meaning and goes in the body,
# as botocore reads it.
RESPONSE_LOCATIONS = frozenset(("header", "headers", "statusCode"))


def botocore_data_dir() -> str:
    spec = importlib.util.find_spec("botocore")
    if spec is None or spec.origin is None:
        raise RuntimeError("botocore is not installed")
    return os.path.join(os.path.dirname(spec.origin), "data")


class Shape:
    """One shape as seen through one member reference (botocore's semantics:
    traits on the reference override the target shape's own)."""

    __slots__ = (
        "model", "name", "spec", "type", "wire_name", "location", "query_name",
        "xml_namespace", "xml_attribute", "flattened", "timestamp_format",
        "json_value", "host_label", "event_header", "event_payload",
        "idempotency_token", "streaming", "payload", "result_wrapper",
        "event_stream", "event", "exception", "error", "document", "union",
        "required", "min", "max", "pattern", "enum", "sensitive", "__dict__",
    )

    def __init__(self, model: "ServiceModel", name: str, spec: dict, ref: dict | None = None):
        ref = ref or {}
        self.model = model
        self.name = name
        self.spec = spec
        self.type = spec["type"]
        get = ref.get
        sget = spec.get
        self.wire_name = get("locationName", sget("locationName"))
        self.location = get("location")
        self.query_name = get("queryName", sget("queryName"))
        self.xml_namespace = get("xmlNamespace", sget("xmlNamespace"))
        self.xml_attribute = bool(get("xmlAttribute", sget("xmlAttribute", False)))
        self.flattened = bool(get("flattened", sget("flattened", False)))
        self.timestamp_format = get("timestampFormat", sget("timestampFormat"))
        self.json_value = bool(get("jsonvalue", sget("jsonvalue", False)))
        self.host_label = bool(get("hostLabel", False))
        self.event_header = bool(get("eventheader", False))
        self.event_payload = bool(get("eventpayload", False))
        self.idempotency_token = bool(get("idempotencyToken", False))
        self.streaming = bool(get("streaming", sget("streaming", False)))
        self.payload = sget("payload")
        self.result_wrapper = sget("resultWrapper")
        self.event_stream = bool(sget("eventstream", False))
        self.event = bool(sget("event", False))
        self.exception = bool(sget("exception", False))
        self.error = sget("error") or {}
        self.document = bool(sget("document", False))
        self.union = bool(sget("union", False))
        self.required = tuple(sget("required", ()))
        self.min = sget("min")
        self.max = sget("max")
        self.pattern = sget("pattern")
        self.enum = sget("enum")
        self.sensitive = bool(sget("sensitive", False))

    def __repr__(self) -> str:
        return f"<Shape {self.name} {self.type}>"

    @cached_property
    def members(self) -> dict[str, "Shape"]:
        if self.type != "structure":
            return {}
        resolve = self.model.resolve
        return {name: resolve(ref) for name, ref in self.spec.get("members", {}).items()}

    @cached_property
    def member(self) -> "Shape":
        return self.model.resolve(self.spec["member"])

    @cached_property
    def key(self) -> "Shape":
        return self.model.resolve(self.spec["key"])

    @cached_property
    def value(self) -> "Shape":
        return self.model.resolve(self.spec["value"])

    @cached_property
    def compiled_pattern(self) -> re.Pattern | None:
        """The model's pattern as a Python regex, or None if it has none or
        uses Java syntax Python cannot compile (then it is not enforced)."""
        if not self.pattern:
            return None
        return compile_java_pattern(self.pattern)


# Java regex classes the models use that Python's re lacks. \p{L} (a letter)
# widens to \w: a pattern may then accept digits or "_" where Java would
# not, which errs on the side of accepting valid input.
_JAVA_CLASSES = {
    r"\p{L}": r"\w", r"\p{N}": r"\d", r"\p{Z}": r"\s", r"\p{Alnum}": r"a-zA-Z0-9",
    r"\p{Alpha}": r"a-zA-Z", r"\p{Digit}": r"0-9", r"\p{Punct}": r"!-/:-@\[-`{-~",
    r"\p{Print}": r"\x20-\x7e", r"\p{Graph}": r"\x21-\x7e", r"\p{Space}": r"\s",
    # Java writes supplementary code points as \u10000; Python needs \U.
    r"\u10000-\u10FFFF": r"\U00010000-\U0010FFFF",
}


def compile_java_pattern(pattern: str) -> re.Pattern | None:
    """Compile a model pattern (Java regex) for full-string matching; a
    pattern Python cannot compile even after translating the common \\p{..}
    classes is left unenforced rather than rejecting valid input."""
    for java, py in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, py)
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


class OperationModel:
    __slots__ = ("service", "name", "spec", "http", "method", "request_uri",
                 "response_code", "host_prefix", "auth_type", "plans", "__dict__")

    def __init__(self, service: "ServiceModel", name: str, spec: dict):
        self.service = service
        self.name = name
        self.spec = spec
        self.http = spec.get("http", {})
        self.method = self.http.get("method", "POST")
        self.request_uri = self.http.get("requestUri", "/")
        self.response_code = self.http.get("responseCode", 200)
        self.host_prefix = (spec.get("endpoint") or {}).get("hostPrefix")
        self.auth_type = spec.get("authtype")
        # Protocol modules cache their compiled plans here, keyed by protocol.
        self.plans: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Operation {self.service.name}.{self.name}>"

    @cached_property
    def input(self) -> Shape | None:
        ref = self.spec.get("input")
        return self.service.resolve(ref) if ref else None

    @cached_property
    def output(self) -> Shape | None:
        ref = self.spec.get("output")
        return self.service.resolve(ref) if ref else None

    @cached_property
    def errors(self) -> list[Shape]:
        return [self.service.resolve(ref) for ref in self.spec.get("errors", ())]


class ServiceModel:
    """A botocore service model (the service-2.json document)."""

    def __init__(self, name: str, raw: dict):
        self.name = name
        self.raw = raw
        self.metadata: dict = raw.get("metadata", {})
        md = self.metadata
        self.protocol: str = md.get("protocol", "")
        self.protocols: list[str] = md.get("protocols") or [self.protocol]
        self.api_version: str = md.get("apiVersion", "")
        self.target_prefix: str | None = md.get("targetPrefix")
        self.json_version: str = md.get("jsonVersion", "1.0")
        self.xml_namespace: str | None = md.get("xmlNamespace")
        self.endpoint_prefix: str = md.get("endpointPrefix", name)
        self.signing_name: str = md.get("signingName", self.endpoint_prefix)
        self.service_id: str = md.get("serviceId", name)
        self.query_compatible: bool = "awsQueryCompatible" in md
        self._shapes: dict = raw.get("shapes", {})
        self._canonical: dict[str, Shape] = {}
        self._operations: dict[str, OperationModel] = {}
        # Protocol modules cache service-wide plans here (e.g. REST routes).
        self.plans: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<ServiceModel {self.name}>"

    @property
    def operation_names(self) -> Iterable[str]:
        return self.raw.get("operations", {}).keys()

    def operation(self, name: str) -> OperationModel | None:
        op = self._operations.get(name)
        if op is None:
            spec = self.raw.get("operations", {}).get(name)
            if spec is None:
                return None
            op = self._operations[name] = OperationModel(self, name, spec)
        return op

    def shape(self, name: str) -> Shape:
        shape = self._canonical.get(name)
        if shape is None:
            shape = self._canonical[name] = Shape(self, name, self._shapes[name])
        return shape

    def has_shape(self, name: str) -> bool:
        return name in self._shapes

    def resolve(self, ref: dict) -> Shape:
        name = ref["shape"]
        for trait in _REF_TRAITS:
            if trait in ref:
                return Shape(self, name, self._shapes[name], ref)
        return self.shape(name)

    @cached_property
    def _error_index(self) -> dict[str, Shape]:
        index: dict[str, Shape] = {}
        for name, spec in self._shapes.items():
            if spec.get("exception"):
                shape = self.shape(name)
                index.setdefault(name, shape)
                custom = shape.error.get("code")
                if custom:
                    index.setdefault(custom, shape)
        return index

    def error_shape(self, code: str) -> Shape | None:
        """The exception shape for an error code (its shape name or its
        query-compatible custom code), or None for an unmodeled error."""
        return self._error_index.get(code)


class ModelRegistry:
    """Loads botocore models on first use and keeps them for the process.

    `patches` lets a service add serialization traits that botocore's JSON
    models lost in translation from Smithy (for example the query names an
    older SDK sends for a service that moved to JSON); they are merged into
    the raw model before any shape is resolved."""

    def __init__(self, data_dir: str | None = None):
        self.data_dir = data_dir or botocore_data_dir()
        self._models: dict[str, ServiceModel] = {}
        self._patches: dict[str, dict] = {}

    def add_patch(self, service: str, patch: dict) -> None:
        self._patches[service] = patch
        self._models.pop(service, None)

    def model_path(self, service: str) -> str | None:
        base = os.path.join(self.data_dir, service)
        try:
            versions = sorted(v for v in os.listdir(base) if os.path.isdir(os.path.join(base, v)))
        except FileNotFoundError:
            return None
        for version in reversed(versions):
            for fname in ("service-2.json.gz", "service-2.json"):
                path = os.path.join(base, version, fname)
                if os.path.exists(path):
                    return path
        return None

    def load_raw(self, service: str) -> dict | None:
        path = self.model_path(service)
        if path is None:
            return None
        with open(path, "rb") as fh:
            data = fh.read()
        if path.endswith(".gz"):
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
        return orjson.loads(data)

    def get(self, service: str) -> ServiceModel | None:
        model = self._models.get(service)
        if model is None:
            raw = self.load_raw(service)
            if raw is None:
                return None
            patch = self._patches.get(service)
            if patch:
                deep_merge(raw, patch)
            model = self._models[service] = ServiceModel(service, raw)
        return model

    def service_names(self) -> list[str]:
        return sorted(d for d in os.listdir(self.data_dir)
                      if os.path.isdir(os.path.join(self.data_dir, d)))


def deep_merge(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = value
    return target
