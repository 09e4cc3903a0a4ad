#!/usr/bin/env python3
"""A client that is not Liaison's own: what the README's grpcurl lines do, from Python
grpcio, knowing nothing but the server's reflection (no .proto files, no generated code).

    python3 grpc_client.py HOST:PORT CA.pem CLIENT.pem CLIENT.key RECIPIENT

Prints one JSON object with what it saw; the Rust test that runs it
(tests/federation/client_api/foreign.rs) checks it. Needs grpcio, grpcio-reflection,
grpcio-health-checking and protobuf (installed by .ci/run).
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main(target, ca, cert, key, recipient):
    credentials = grpc.ssl_channel_credentials(
        root_certificates=open(ca, "rb").read(),
        private_key=open(key, "rb").read(),
        certificate_chain=open(cert, "rb").read(),
    )
    # The node certificate names localhost; connect to 127.0.0.1 under that name.
    options = [("grpc.ssl_target_name_override", "localhost")]
    channel = grpc.secure_channel(target, credentials, options)
    seen = {}

    # grpcurl ... list
    database = ProtoReflectionDescriptorDatabase(channel)
    seen["services"] = sorted(database.get_services())

    # grpcurl ... grpc.health.v1.Health/Check
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=""))
    seen["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(status.status)

    # Messages built from the descriptors reflection served, as grpcurl does.
    pool = descriptor_pool.DescriptorPool(database)
    client = pool.FindServiceByName("liaison.v1.Client")

    def call(method, request_json, stream=False):
        descriptor = client.methods_by_name[method]
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        path = f"/liaison.v1.Client/{method}"
        kind = channel.unary_stream if stream else channel.unary_unary
        stub = kind(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        request = json_format.Parse(json.dumps(request_json), request_class())
        return stub(request, timeout=20)

    # grpcurl ... liaison.v1.Client/Publish
    published = call(
        "Publish",
        {
            "request_key": "python-interop-1",
            "recipients": [recipient],
            "draft": {
                "category": "trafficking.persons",
                "tlp": "TLP_AMBER",
                "content": {"title": "From Python grpcio", "body": "Details..."},
            },
        },
    )
    seen["published"] = json_format.MessageToDict(published, preserving_proto_field_name=True)
    bulletin_id = published.bulletin_id

    # A malformed request gets its own status and names the field.
    try:
        call("Get", {"bulletin_id": "not-an-id"})
        seen["bad_request"] = "accepted"
    except grpc.RpcError as error:
        seen["bad_request"] = {"code": error.code().name, "message": error.details()}

    # grpcurl ... liaison.v1.Client/DeliveryStatus
    status = call("DeliveryStatus", {"bulletin_id": bulletin_id})
    seen["delivery"] = json_format.MessageToDict(status, preserving_proto_field_name=True)

    # grpcurl ... liaison.v1.Client/List (what this node published)
    listed = call("List", {"direction": "DIRECTION_OUT", "limit": 10})
    seen["listed"] = [b.get("bulletin_id") for b in json_format.MessageToDict(
        listed, preserving_proto_field_name=True).get("bulletins", [])]
    # A request for information with an entity, then its thread; the node normalises
    # the phone number and answers with the request's fields.
    import time
    due = int(time.time() * 1000) + 86_400_000
    asked = call(
        "Publish",
        {
            "request_key": "python-interop-rfi",
            "recipients": [recipient],
            "draft": {
                "category": "trafficking.persons",
                "tlp": "TLP_AMBER",
                "handling_codes": ["H2"],
                "evaluation": {"source_reliability": "B", "information_credibility": "2"},
                "request": {"priority": "PRIORITY_URGENT", "due_unix_ms": str(due)},
                "content": {
                    "title": "RFI from Python",
                    "body": "Who uses this phone?",
                    "entities": [{"phone": {"number": "0040 712 345 678"}}],
                },
            },
        },
    )
    thread = call("Thread", {"bulletin_id": asked.bulletin_id})
    seen["thread"] = json_format.MessageToDict(thread, preserving_proto_field_name=True)

    # Search by the phone number, written another way; a bad selector is refused.
    found = call(
        "Search",
        {"selectors": [{"kind": "phone", "value": "+40 712 345 678"}], "tlp": "TLP_AMBER"},
    )
    seen["search"] = [b.get("bulletin_id") for b in json_format.MessageToDict(
        found, preserving_proto_field_name=True).get("bulletins", [])]
    try:
        call("Search", {"selectors": [{"kind": "phone", "value": "0712 345 678"}]})
        seen["bad_search"] = "accepted"
    except grpc.RpcError as error:
        seen["bad_search"] = {"code": error.code().name, "message": error.details()}

    # A private hit/no-hit query to the recipient, which holds the request (once it
    # has arrived): a hit for its number, no hit for another; never the number sent.
    hits = []
    for _ in range(50):
        answered = call(
            "Query",
            {
                "selectors": [
                    {"kind": "phone", "value": "+40 712 345 678"},
                    {"kind": "phone", "value": "+40 799 000 111"},
                ],
                "partners": [recipient],
            },
        )
        answer = json_format.MessageToDict(answered, preserving_proto_field_name=True)
        hits = answer["answers"][0].get("hits", [])
        if hits and hits[0]:
            break
        time.sleep(0.2)
    seen["query"] = answer
    try:
        call("Query", {"selectors": [{"kind": "phone", "value": "+40712345678"}],
                       "partners": ["not an agency"]})
        seen["bad_query"] = "accepted"
    except grpc.RpcError as error:
        seen["bad_query"] = {"code": error.code().name, "message": error.details()}

    # A phone number without its country code is refused, naming the entity.
    try:
        call(
            "Publish",
            {
                "request_key": "python-interop-bad-phone",
                "recipients": [recipient],
                "draft": {
                    "category": "trafficking.persons",
                    "tlp": "TLP_AMBER",
                    "content": {
                        "title": "t",
                        "body": "b",
                        "entities": [{"phone": {"number": "0712 345 678"}}],
                    },
                },
            },
        )
        seen["bad_phone"] = "accepted"
    except grpc.RpcError as error:
        seen["bad_phone"] = {"code": error.code().name, "message": error.details()}
    print(json.dumps(seen))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
