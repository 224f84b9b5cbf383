"""XML bodies, shape-driven: the writer for query / ec2 / rest-xml responses
and the reader for rest-xml request bodies.

The writer builds strings directly (no DOM) because it sits on the hot path
of every query-protocol response.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cloudlet.protocol.common import (
    ParseError, b64decode, format_timestamp, parse_bool_text, parse_float_text,
    parse_int_text, parse_timestamp, scalar_text,
)
from cloudlet.protocol.model import RESPONSE_LOCATIONS, Shape

_TEXT_SPECIAL = re.compile(r'[&<>\r"\x00-\x08\x0b\x0c\x0e-\x1f]')
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;", '"': "&quot;"}


def escape(text: str) -> str:
    if not _TEXT_SPECIAL.search(text):
        return text
    # Characters XML 1.0 cannot carry at all are dropped; the rest escaped.
    return _TEXT_SPECIAL.sub(lambda m: _ESCAPES.get(m.group(), ""), text)


def ns_attr(namespace) -> str:
    if not namespace:
        return ""
    if isinstance(namespace, dict):
        prefix = namespace.get("prefix")
        attr = f"xmlns:{prefix}" if prefix else "xmlns"
        return f' {attr}="{escape(namespace.get("uri", ""))}"'
    return f' xmlns="{escape(namespace)}"'


def member_element_name(shape: Shape, member_name: str, query_names: bool = False) -> str:
    """The element a structure member is written as (botocore's rule: a
    flattened list takes its member's name when it has one). The query
    protocol also honours a member's query-only name."""
    if query_names and shape.query_name:
        return shape.query_name
    if shape.type == "list" and shape.flattened:
        inner = shape.member.wire_name
        if inner:
            return inner
    return shape.wire_name or member_name


class XmlWriter:
    """Writes shape values as XML elements into a list of strings."""

    __slots__ = ("default_timestamp", "skip_located", "query_names")

    def __init__(self, default_timestamp: str = "iso8601", skip_located: bool = False, query_names: bool = False):
        self.default_timestamp = default_timestamp
        # REST protocols put header/status members elsewhere.
        self.skip_located = skip_located
        self.query_names = query_names

    def structure_body(self, out: list[str], shape: Shape, value: dict) -> str:
        """Write a structure's member elements; return its attribute text."""
        attrs = ""
        members = shape.members
        for name, item in value.items():
            if item is None:
                continue
            mshape = members.get(name)
            if mshape is None:
                continue
            if self.skip_located and mshape.location in RESPONSE_LOCATIONS:
                continue
            if mshape.xml_attribute:
                attrs += f' {mshape.wire_name or name}="{escape(scalar_text(mshape.type, item))}"'
                continue
            self.write(out, mshape, item, member_element_name(mshape, name, self.query_names))
        return attrs

    def write(self, out: list[str], shape: Shape, value, name: str) -> None:
        t = shape.type
        if t == "structure":
            start = len(out)
            out.append("")
            attrs = self.structure_body(out, shape, value)
            out[start] = f"<{name}{ns_attr(shape.xml_namespace)}{attrs}>"
            out.append(f"</{name}>")
        elif t == "list":
            member = shape.member
            if shape.flattened:
                for item in value:
                    if item is not None:
                        self.write(out, member, item, name)
            else:
                out.append(f"<{name}{ns_attr(shape.xml_namespace)}>")
                item_name = member.wire_name or "member"
                for item in value:
                    if item is not None:
                        self.write(out, member, item, item_name)
                out.append(f"</{name}>")
        elif t == "map":
            kshape, vshape = shape.key, shape.value
            kname = kshape.wire_name or "key"
            vname = vshape.wire_name or "value"
            if shape.flattened:
                for k, v in value.items():
                    out.append(f"<{name}>")
                    self.write(out, kshape, k, kname)
                    if v is not None:
                        self.write(out, vshape, v, vname)
                    out.append(f"</{name}>")
            else:
                out.append(f"<{name}{ns_attr(shape.xml_namespace)}>")
                for k, v in value.items():
                    out.append("<entry>")
                    self.write(out, kshape, k, kname)
                    if v is not None:
                        self.write(out, vshape, v, vname)
                    out.append("</entry>")
                out.append(f"</{name}>")
        else:
            if t == "timestamp":
                text = format_timestamp(value, shape.timestamp_format or self.default_timestamp)
                text = str(text)
            elif t == "string":
                text = value
            else:
                text = scalar_text(t, value)
            out.append(f"<{name}{ns_attr(shape.xml_namespace)}>{escape(text)}</{name}>")


# -- reading ----------------------------------------------------------------

_NS_RE = re.compile(r"^{[^}]*}")


def local_name(tag: str) -> str:
    return tag.split("}", 1)[1] if tag[:1] == "{" else tag


def parse_document(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise ParseError(f"Invalid XML: {exc}") from None


class XmlReader:
    """Reads request XML into the input dict of a shape."""

    def structure(self, shape: Shape, node: ET.Element, skip_located: bool = True) -> dict:
        children: dict[str, list[ET.Element]] = {}
        for child in node:
            children.setdefault(local_name(child.tag), []).append(child)
        out: dict = {}
        for name, mshape in shape.members.items():
            if skip_located and mshape.location:
                continue
            if mshape.xml_attribute:
                attr = self._attribute(node, mshape.wire_name or name)
                if attr is not None:
                    out[name] = self.scalar(mshape, attr)
                continue
            elems = None
            if mshape.type == "list" and mshape.flattened:
                # The member's own name wins (Smithy); botocore's older rule
                # names the repeated element after the list member.
                for candidate in (mshape.wire_name, mshape.member.wire_name, name):
                    if candidate and candidate in children:
                        elems = children[candidate]
                        break
                if elems is not None:
                    out[name] = [self.value(mshape.member, e) for e in elems]
                continue
            elems = children.get(mshape.wire_name or name)
            if elems is None and mshape.wire_name:
                elems = children.get(name)
            if not elems:
                continue
            if mshape.type == "map" and mshape.flattened:
                out[name] = self._map_entries(mshape, elems)
            else:
                out[name] = self.value(mshape, elems[0])
        return out

    @staticmethod
    def _attribute(node: ET.Element, wire: str):
        if ":" in wire:
            prefix, local = wire.split(":", 1)
            for key, val in node.attrib.items():
                if key.endswith("}" + local) or key == wire:
                    return val
            return None
        return node.attrib.get(wire)

    def _map_entries(self, shape: Shape, entries) -> dict:
        kshape, vshape = shape.key, shape.value
        kname = kshape.wire_name or "key"
        vname = vshape.wire_name or "value"
        out = {}
        for entry in entries:
            key = val = None
            for part in entry:
                tag = local_name(part.tag)
                if tag == kname:
                    key = self.scalar(kshape, part.text or "")
                elif tag == vname:
                    val = self.value(vshape, part)
            if key is not None:
                out[key] = val
        return out

    def value(self, shape: Shape, node: ET.Element):
        t = shape.type
        if t == "structure":
            return self.structure(shape, node, skip_located=False)
        if t == "list":
            return [self.value(shape.member, child) for child in node]
        if t == "map":
            return self._map_entries(shape, list(node))
        return self.scalar(shape, node.text or "")

    @staticmethod
    def scalar(shape: Shape, text: str):
        t = shape.type
        if t == "string":
            return text
        text = text.strip()
        if t in ("integer", "long", "short", "byte"):
            return parse_int_text(text)
        if t in ("float", "double"):
            return parse_float_text(text)
        if t == "boolean":
            return parse_bool_text(text)
        if t == "timestamp":
            return parse_timestamp(text)
        if t == "blob":
            return b64decode(text)
        return text
