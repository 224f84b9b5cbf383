"""The wire protocols, each a parser and serializer driven by botocore's
service models. `PROTOCOLS` maps a model's protocol name to its (stateless)
implementation; each is imported the first time it is needed, so a server
that never sees CBOR or rest-xml never loads cbor2 or an XML parser."""

from __future__ import annotations

import importlib

_IMPLEMENTATIONS = {
    "query": ("cloudlet.protocol.query", "QueryProtocol"),
    "ec2": ("cloudlet.protocol.query", "Ec2Protocol"),
    "json": ("cloudlet.protocol.json", "JsonProtocol"),
    "rest-json": ("cloudlet.protocol.rest_json", "RestJsonProtocol"),
    "rest-xml": ("cloudlet.protocol.rest_xml", "RestXmlProtocol"),
    "smithy-rpc-v2-cbor": ("cloudlet.protocol.rpc_v2_cbor", "RpcV2CborProtocol"),
}


class _Protocols(dict):
    def __missing__(self, name: str):
        module, cls = _IMPLEMENTATIONS[name]
        impl = self[name] = getattr(importlib.import_module(module), cls)()
        return impl

    def __contains__(self, name) -> bool:
        return name in _IMPLEMENTATIONS


PROTOCOLS: dict = _Protocols()
