"""Every field of every analytics RPC, with each kind of bad value (tests/support/bad_input.py): refused at
the edge as INVALID_ARGUMENT naming the field, writing nothing; never UNKNOWN or INTERNAL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pingou.analytics.v1 import analytics_pb2 as pb
from pingou.common.v1 import common_pb2

from libs.convert import timestamp
from libs.core import BusinessLine
from services.analytics.domain.model import Granularity, bucket_start
from services.analytics.entrypoints.validation import SERVICE
from tests.integration.analytics.conftest import Platform
from tests.support.bad_input import Good, Rpc, check_rpc

pytestmark = pytest.mark.infra
EMPTY = ("empty",)
PINGOU = BusinessLine.PINGOU


async def row_counts(analytics: Platform) -> tuple[int, ...]:
    """What a read could move if it wrote anything: the consumer's counts, the links, the lookups."""
    tables = ["analytics_identity.account_links"] + [
        f"analytics_{line.value}.{table}" for line in BusinessLine for table in ("events_applied", "link_lookups")
    ]
    return tuple([await analytics.count(f"SELECT count(*) FROM {table}") for table in tables])  # noqa: S608  -- fixed names


def kpis_request() -> pb.GetKpisRequest:
    today = bucket_start(datetime.now(UTC), Granularity.DAY)
    request = pb.GetKpisRequest(line=common_pb2.BUSINESS_LINE_PINGOU, granularity=pb.GRANULARITY_HOUR)
    getattr(request, "from").CopyFrom(timestamp(today))
    request.to.CopyFrom(timestamp(today + timedelta(days=1)))
    return request


TABLES: dict[str, Callable[[Platform], Rpc]] = {
    "GetKpis": lambda a: Rpc(
        a.analytics.GetKpis,
        [Good(kpis_request(), a.token(PINGOU))],
        # Unset: hour buckets, from the start of today, to now; whole seconds are fine.
        {"granularity": EMPTY, "from": EMPTY, "to": EMPTY, "from.nanos": EMPTY, "to.nanos": EMPTY},
    ),
    "GetConsumerStatus": lambda a: Rpc(
        a.analytics.GetConsumerStatus,
        [Good(pb.GetConsumerStatusRequest(line=common_pb2.BUSINESS_LINE_PINGOU), a.token(PINGOU))],
    ),
}


def test_every_analytics_rpc_has_a_table() -> None:
    methods = {method.name for method in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods}
    assert set(TABLES) == methods


@pytest.mark.parametrize("method", sorted(TABLES))
async def test_every_field_refuses_bad_values_by_name_and_writes_nothing(analytics: Platform, method: str) -> None:
    problems = await check_rpc(TABLES[method](analytics), lambda: row_counts(analytics))
    assert problems == []
