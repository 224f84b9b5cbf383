"""The wire protocols, each a parser and serializer driven by botocore's
service models. `PROTOCOLS` maps a model's protocol name to its (stateless)
implementation."""

from __future__ import annotations

from cloudlet.protocol.json import JsonProtocol
from cloudlet.protocol.query import Ec2Protocol, QueryProtocol
from cloudlet.protocol.rest_json import RestJsonProtocol
from cloudlet.protocol.rest_xml import RestXmlProtocol
from cloudlet.protocol.rpc_v2_cbor import RpcV2CborProtocol

PROTOCOLS = {
    "query": QueryProtocol(),
    "ec2": Ec2Protocol(),
    "json": JsonProtocol(),
    "rest-json": RestJsonProtocol(),
    "rest-xml": RestXmlProtocol(),
    "smithy-rpc-v2-cbor": RpcV2CborProtocol(),
}
