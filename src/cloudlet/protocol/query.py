"""The query and ec2 protocols: form-encoded requests, XML responses.

Request keys are dotted paths (`Tags.member.1.Key=...`); they are first
folded into a tree, then read against the input shape. The ec2 dialect
differs only in names (capitalized, queryName) and in lists, which are
always flattened.
"""

from __future__ import annotations

from cloudlet.errors import AwsError, missing_action
from cloudlet.protocol.common import (
    ParseError, b64decode, parse_bool_text, parse_float_text, parse_int_text,
    parse_timestamp,
)
from cloudlet.protocol.http import HttpRequest, HttpResponse
from cloudlet.protocol.model import OperationModel, ServiceModel, Shape
from cloudlet.protocol.xml import XmlWriter, escape

_LEAF = ""  # tree key under which a node's own value is kept


def build_tree(params: dict[str, str]) -> dict:
    tree: dict = {}
    for key, value in params.items():
        if key == "Action" or key == "Version":
            continue
        node = tree
        for part in key.split("."):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            node = child
        node[_LEAF] = value
    return tree


def _capitalize(name: str) -> str:
    return name[:1].upper() + name[1:]


class QueryProtocol:
    name = "query"
    ec2 = False
    content_type = "text/xml"

    def __init__(self):
        self._writer = XmlWriter("iso8601", query_names=True)

    # -- which operation ------------------------------------------------

    def operation_name(self, request: HttpRequest, form: dict[str, str]) -> str:
        action = form.get("Action")
        if not action:
            raise missing_action()
        return action

    # -- request --------------------------------------------------------

    def parse(self, op: OperationModel, request: HttpRequest, form: dict[str, str] | None = None) -> dict:
        shape = op.input
        if shape is None or not shape.members:
            return {}
        if form is None:
            form = request.form()
        tree = build_tree(form)
        return self._structure(shape, tree, "")

    def _names(self, shape: Shape, member_name: str) -> tuple[str, ...]:
        """Wire names a member may arrive under, preferred first."""
        if self.ec2:
            names = []
            if shape.query_name:
                names.append(shape.query_name)
            if shape.wire_name:
                names.append(_capitalize(shape.wire_name))
            names.append(_capitalize(member_name))
            names.append(member_name)
            return tuple(dict.fromkeys(names))
        # queryName here is a query-only member name (a patch's, for a JSON
        # service that also speaks query); real query models never set it.
        names = [shape.query_name or shape.wire_name or member_name]
        if shape.type == "list" and shape.flattened and shape.member.wire_name:
            names.append(shape.member.wire_name)
        names.append(member_name)
        return tuple(dict.fromkeys(names))

    def _plan(self, shape: Shape) -> list:
        plan = shape.__dict__.get("_query_plan" if not self.ec2 else "_ec2_plan")
        if plan is None:
            plan = [(name, m, self._names(m, name)) for name, m in shape.members.items()]
            shape.__dict__["_query_plan" if not self.ec2 else "_ec2_plan"] = plan
        return plan

    def _structure(self, shape: Shape, node: dict, path: str) -> dict:
        out = {}
        for name, mshape, names in self._plan(shape):
            for wire in names:
                child = node.get(wire)
                if child is not None:
                    value = self._value(mshape, child, f"{path}{wire}")
                    if value is not None:
                        out[name] = value
                    break
        return out

    def _value(self, shape: Shape, node: dict, path: str):
        t = shape.type
        if t == "structure":
            return self._structure(shape, node, path + ".")
        if t == "list":
            return self._list(shape, node, path)
        if t == "map":
            return self._map(shape, node, path)
        text = node.get(_LEAF)
        if text is None:
            return None
        return self._scalar(shape, text, path)

    def _list(self, shape: Shape, node: dict, path: str):
        leaf = node.get(_LEAF)
        if leaf is not None and len(node) == 1:
            # "Name=" is an empty list; "AttributeName=All", unindexed, a list of one.
            return [] if leaf == "" else [self._scalar(shape.member, leaf, path)]
        container = node
        if not self.ec2 and not shape.flattened:
            inner = node.get(shape.member.wire_name or "member")
            if inner is None:
                inner = node.get("member")
            if inner is not None:
                container = inner
        items = []
        for key, child in container.items():
            if key.isdigit():
                items.append((int(key), child))
        items.sort(key=lambda kv: kv[0])
        member = shape.member
        return [self._value(member, child, f"{path}.{i}") for i, child in items]

    def _map(self, shape: Shape, node: dict, path: str):
        if node.get(_LEAF) == "" and len(node) == 1:
            return {}
        container = node
        if not shape.flattened:
            container = node.get("entry", node)
        kshape, vshape = shape.key, shape.value
        kname = kshape.wire_name or "key"
        vname = vshape.wire_name or "value"
        entries = sorted(((int(k), c) for k, c in container.items() if k.isdigit()), key=lambda kv: kv[0])
        out = {}
        for i, entry in entries:
            knode = entry.get(kname) or entry.get("key") or entry.get("Name")
            if knode is None or _LEAF not in knode:
                continue
            vnode = entry.get(vname) or entry.get("value") or entry.get("Value")
            key = self._scalar(kshape, knode[_LEAF], f"{path}.{i}.{kname}")
            out[key] = None if vnode is None else self._value(vshape, vnode, f"{path}.{i}.{vname}")
        return out

    @staticmethod
    def _scalar(shape: Shape, text: str, path: str):
        t = shape.type
        try:
            if t == "string":
                return text
            if t in ("integer", "long", "short", "byte"):
                return parse_int_text(text.strip())
            if t in ("float", "double"):
                return parse_float_text(text.strip())
            if t == "boolean":
                return parse_bool_text(text.strip().lower())
            if t == "timestamp":
                return parse_timestamp(text)
            if t == "blob":
                return b64decode(text)
        except ParseError as exc:
            exc.path = path
            raise
        return text

    # -- response -------------------------------------------------------

    def serialize(self, op: OperationModel, output: dict | None, request_id: str) -> HttpResponse:
        name = op.name
        ns = op.service.xml_namespace
        head = f'<{name}Response xmlns="{escape(ns)}">' if ns else f"<{name}Response>"
        out = [head]
        shape = op.output
        if self.ec2:
            out.append(f"<requestId>{escape(request_id)}</requestId>")
            if shape is not None and output:
                self._writer.structure_body(out, shape, output)
        else:
            if shape is not None:
                wrapper = (op.spec.get("output") or {}).get("resultWrapper") or shape.result_wrapper or f"{name}Result"
                start = len(out)
                out.append("")
                attrs = self._writer.structure_body(out, shape, output or {})
                out[start] = f"<{wrapper}{attrs}>"
                out.append(f"</{wrapper}>")
            out.append(f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>")
        out.append(f"</{name}Response>")
        body = "".join(out).encode()
        return HttpResponse(op.response_code if op.response_code != 200 else 200,
                            [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)], body)

    def serialize_error(self, service: ServiceModel | None, error: AwsError, request_id: str) -> HttpResponse:
        shape = service.error_shape(error.code) if service is not None else None
        status = error.status
        sender = error.sender_fault
        code = error.code
        if shape is not None:
            status = status or shape.error.get("httpStatusCode")
            if sender is None and "senderFault" in shape.error:
                sender = shape.error["senderFault"]
            code = shape.error.get("code") or code
        status = status or 400
        if sender is None:
            sender = status < 500
        fields = []
        if shape is not None and error.fields:
            self._writer.structure_body(fields, shape, {k: v for k, v in error.fields.items()
                                                        if k not in ("Message", "message")})
        message = f"<Message>{escape(error.message)}</Message>" if error.message else ""
        if self.ec2:
            body = (f"<Response><Errors><Error><Code>{escape(code)}</Code>{message}"
                    f"{''.join(fields)}</Error></Errors><RequestID>{escape(request_id)}</RequestID></Response>")
        else:
            ns = service.xml_namespace if service is not None else None
            head = f'<ErrorResponse xmlns="{escape(ns)}">' if ns else "<ErrorResponse>"
            body = (f"{head}<Error><Type>{'Sender' if sender else 'Receiver'}</Type><Code>{escape(code)}</Code>"
                    f"{message}{''.join(fields)}</Error>"
                    f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>")
        headers = [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)]
        headers.extend(error.headers.items())
        return HttpResponse(status, headers, body.encode())


class Ec2Protocol(QueryProtocol):
    name = "ec2"
    ec2 = True
