"""Choices shared by several commands, as people type them, and their protobuf values."""

from __future__ import annotations

from enum import StrEnum

from pingou.order.v1 import order_pb2
from pingou.segmentation.v1 import segmentation_pb2


class Channel(StrEnum):
    """Where a buyer orders from; the same names in the order and segmentation APIs."""

    PINGOU_APP = "pingou-app"
    WECHAT_MINI_PROGRAM = "wechat-mini-program"
    MALL_APP = "mall-app"
    H5 = "h5"

    @property
    def proto_name(self) -> str:
        return "CHANNEL_" + self.value.upper().replace("-", "_")

    def for_orders(self) -> order_pb2.Channel.ValueType:
        return order_pb2.Channel.Value(self.proto_name)

    def for_segmentation(self) -> segmentation_pb2.Channel.ValueType:
        return segmentation_pb2.Channel.Value(self.proto_name)
