from __future__ import annotations

import uuid

from pingou.common.v1 import common_pb2
from pingou.testkit.v1 import notes_pb2

from libs.core import BusinessLine
from libs.events import build_envelope, dead_letter_topic, topic_name


def test_topics_are_per_line_and_aggregate() -> None:
    assert topic_name(BusinessLine.PINGOU, "order") == "pingou.order.v1"
    assert topic_name(BusinessLine.MALL, "order", prefix="staging.") == "staging.mall.order.v1"
    assert dead_letter_topic("pingou.order.v1") == "pingou.order.v1.dlq"


def test_the_envelope_carries_identity_type_line_and_payload() -> None:
    event_id = uuid.uuid4()
    payload = notes_pb2.NoteCreated(note_id="n-1", author="a", text="t")
    envelope = build_envelope(
        payload, aggregate_id="n-1", line=BusinessLine.PINGOU, event_id=event_id, traceparent="00-abc"
    )
    assert envelope.event_id == str(event_id)
    assert envelope.event_type == "pingou.testkit.v1.NoteCreated"
    assert envelope.line == common_pb2.BUSINESS_LINE_PINGOU
    assert envelope.schema_version == 1
    assert envelope.occurred_at.seconds > 0
    unpacked = notes_pb2.NoteCreated()
    assert envelope.payload.Unpack(unpacked)
    assert unpacked == payload
