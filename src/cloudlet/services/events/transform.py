"""What a target receives for an event: the event itself, a constant
(Input), part of the event (InputPath), or a template filled from it
(InputTransformer). Pure: no service is called here.

InputTransformer follows the EventBridge User Guide's "input
transformation": each `<name>` of the InputTemplate whose name is a key of
InputPathsMap (or a predefined variable: aws.events.rule-arn,
aws.events.rule-name, aws.events.event.ingestion-time, aws.events.event,
aws.events.event.json) is replaced by the value the path selects. Inside a
JSON string literal of the template the value goes in as text (a string
without its quotes, anything else as its JSON, escaped for the literal);
outside one as JSON. A path that selects nothing gives an empty string
inside quotes and "" outside
(what AWS sends: an empty string, not null). Whether the template is JSON or not does
not change this, which is why `<a> is <b>` gives `"x" is "y"` and
`"<a> is <b>"` gives `"x is y"`, as the guide's examples show.
"""

from __future__ import annotations

import json
import re

import orjson

PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
              "aws.events.event", "aws.events.event.json")
MAX_PATHS = 100
_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


class TransformError(ValueError):
    pass


def parse_path(path: str) -> list | None:
    """A JSONPath of the forms EventBridge takes ($, $.a.b, $.a[0],
    $['a']) as a list of keys and indexes; None if it is not one."""
    if not path.startswith("$"):
        return None
    rest, steps, pos = path[1:], [], 0
    while pos < len(rest):
        m = _PATH_TOKEN.match(rest, pos)
        if m is None:
            return None
        name, index, quoted, dquoted = m.groups()
        steps.append(int(index) if index is not None else (name or quoted or dquoted or ""))
        pos = m.end()
    return steps


def select(document, steps: list):
    node = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return _MISSING
            node = node[step]
    return node


def check_target_input(target: dict) -> str | None:
    """Why a target's Input / InputPath / InputTransformer cannot be used
    (None when they can)."""
    given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
    if len(given) > 1:
        return f"Only one of Input, InputPath, or InputTransformer must be provided for target {target['Id']}."
    if target.get("Input") is not None:
        try:
            json.loads(target["Input"])
        except ValueError:
            return "Input is not valid JSON text."
    if target.get("InputPath") is not None and parse_path(target["InputPath"]) is None:
        return "InputPath is not a valid JSON path."
    transformer = target.get("InputTransformer")
    if transformer is not None:
        paths = transformer.get("InputPathsMap") or {}
        if len(paths) > MAX_PATHS:
            return f"InputPathsMap has more than {MAX_PATHS} entries."
        for key, path in paths.items():
            if not _KEY.fullmatch(key) or key.startswith("aws."):
                return f"Key {key} in InputPathsMap is not valid."
            if parse_path(path) is None:
                return f"Value {path} for key {key} in InputPathsMap is not a valid JSON path."
        for name in _PLACEHOLDER.findall(transformer.get("InputTemplate") or ""):
            if name not in paths and name not in PREDEFINED:
                return f"InputTemplate for target {target['Id']} contains invalid placeholder {name}."
    return None


def target_input(target: dict, event_text: str, event: dict, rule_arn: str, rule_name: str,
                 ingestion: str) -> str:
    """The text a target is sent for one event (the event's JSON when
    the target says nothing else)."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath") is not None:
        found = select(event, parse_path(target["InputPath"]))
        return "" if found is _MISSING else orjson.dumps(found).decode()
    transformer = target.get("InputTransformer")
    if transformer is None:
        return event_text
    values = {name: select(event, parse_path(path)) for name, path in (transformer.get("InputPathsMap") or {}).items()}
    values.setdefault("aws.events.rule-arn", rule_arn)
    values.setdefault("aws.events.rule-name", rule_name)
    values.setdefault("aws.events.event.ingestion-time", ingestion)
    # <aws.events.event> is the envelope without its detail, with AWS's own key names and order
    values.setdefault("aws.events.event", {
        "id": event.get("id"), "account": event.get("account"), "detailType": event.get("detail-type"),
        "time": ingestion, "source": event.get("source"), "region": event.get("region"),
        "resources": event.get("resources"), "version": event.get("version")})
    values.setdefault("aws.events.event.json", event)
    return fill(transformer["InputTemplate"], values)


def fill(template: str, values: dict) -> str:
    out: list[str] = []
    in_string = False
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "<":
            end = template.find(">", i + 1)
            name = template[i + 1:end] if end > 0 else None
            if name is not None and name in values:
                out.append(_placed(values[name], in_string))
                i = end + 1
                continue
        if ch == "\\" and in_string and i + 1 < n:
            out.append(template[i:i + 2])
            i += 2
            continue
        if ch == '"':
            in_string = not in_string
        out.append(ch)
        i += 1
    return "".join(out)


def _placed(value, in_string: bool) -> str:
    if value is _MISSING:
        return "" if in_string else '""'
    if not in_string:
        return orjson.dumps(value).decode()
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return json.dumps(text, ensure_ascii=False)[1:-1]
