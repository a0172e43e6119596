"""Every RPC of every service, fuzzed: requests generated from the message descriptors (tests/support/
fuzz.py), each sent as an operator and as the service the method is for. No answer is UNKNOWN or
INTERNAL, none hangs, and the databases' invariants hold afterwards. Hypothesis keeps failing examples in
its database (.hypothesis/ at the repository root) and replays them first on the next run."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import message_factory
from pingou.catalog.v1 import catalog_pb2
from pingou.groupbuy.v1 import groupbuy_pb2
from pingou.membership.v1 import membership_pb2
from pingou.order.v1 import order_pb2
from pingou.segmentation.v1 import segmentation_pb2

from libs.auth import Role
from libs.core import BusinessLine
from libs.grpckit import service_token_metadata
from tests.integration.groupbuy.conftest import Platform
from tests.support.fuzz import fuzz_method

SERVICES = {
    "catalog": catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    "segmentation": segmentation_pb2.DESCRIPTOR.services_by_name["SegmentationService"],
    "membership": membership_pb2.DESCRIPTOR.services_by_name["MembershipService"],
    "order": order_pb2.DESCRIPTOR.services_by_name["OrderService"],
    "groupbuy": groupbuy_pb2.DESCRIPTOR.services_by_name["GroupbuyService"],
}
# The service identity each method is for, where only named services may call it (else any service).
CALLERS = {
    "ReserveStock": "order",
    "CommitReservation": "order",
    "ReleaseReservation": "order",
    "LeaseStock": "groupbuy",
    "ReturnStock": "groupbuy",
    "ConfirmPayment": "payments",
    "ReportRefundResult": "payments",
    "PlaceGroupOrder": "groupbuy",
    "Purchase": "payments",
    "Renew": "payments",
    "RegisterUser": "accounts",
    "UpdateProfile": "accounts",
    "LinkIdentity": "accounts",
}

# Invariants that no request, however bad, may break (each query returns the rows that break one).
INVARIANTS = {
    "overfilled group": """SELECT g.group_id FROM groupbuy_pingou.groups g
        LEFT JOIN groupbuy_pingou.seats s ON s.group_id = g.group_id AND s.state <> 'released'
        GROUP BY g.group_id, g.size, g.seats_taken
        HAVING count(s.seat_id) > g.size OR g.seats_taken > g.size""",
    "allotment below zero": "SELECT sku_id FROM groupbuy_pingou.allotments WHERE available < 0",
    "stock below zero": """SELECT sku_id FROM catalog_pingou.stock WHERE available < 0
        UNION ALL SELECT sku_id FROM catalog_mall.stock WHERE available < 0""",
    "paid order without its payment": """SELECT order_id FROM order_mall.orders o WHERE o.state = 'paid'
        AND NOT EXISTS (SELECT 1 FROM order_mall.payment_confirmations p WHERE p.order_id = o.order_id)""",
}


def fuzz_service(platform: Platform, name: str) -> list[str]:
    """Runs every method of the service under hypothesis (in this thread, with a blocking channel: the
    services answer on the test's event loop meanwhile). Returns the methods fuzzed."""
    service = SERVICES[name]
    operator = platform.mint(line=BusinessLine.PINGOU, subject="fuzz-ops", roles=(Role.OPERATOR,))
    fuzzed = []
    with grpc.insecure_channel(f"127.0.0.1:{platform.ports[name]}") as channel:
        for method in service.methods:
            caller = CALLERS.get(method.name, "checkout")
            as_service = platform.mint(line=BusinessLine.PINGOU, subject=caller, roles=(Role.SERVICE,))
            output = message_factory.GetMessageClass(method.output_type)
            call = channel.unary_unary(
                f"/{service.full_name}/{method.name}",
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=output.FromString,
            )
            fuzz_method(call, method, [service_token_metadata(operator), service_token_metadata(as_service)])
            fuzzed.append(method.name)
    return fuzzed


@pytest.mark.parametrize("name", sorted(SERVICES))
async def test_every_rpc_fuzzed_answers_with_a_documented_status_and_breaks_no_invariant(
    platform: Platform, name: str
) -> None:
    fuzzed = await asyncio.to_thread(fuzz_service, platform, name)
    assert fuzzed == [method.name for method in SERVICES[name].methods]
    for invariant, query in INVARIANTS.items():
        assert await platform.fetch(query) == [], invariant
