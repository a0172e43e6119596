"""Conversions between domain values and the shared protobuf types (lines, timestamps), written once
for every service's gRPC adapter and event builder."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from pingou.common.v1 import common_pb2

from libs.core import BusinessLine

LINE_TO_PROTO: dict[BusinessLine, common_pb2.BusinessLine.ValueType] = {
    BusinessLine.MALL: common_pb2.BUSINESS_LINE_MALL,
    BusinessLine.PINGOU: common_pb2.BUSINESS_LINE_PINGOU,
}
LINE_FROM_PROTO: dict[int, BusinessLine] = {value: key for key, value in LINE_TO_PROTO.items()}


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def optional_timestamp(moment: datetime | None) -> Timestamp | None:
    """None stays None, so an unset proto field stays unset."""
    return None if moment is None else timestamp(moment)
