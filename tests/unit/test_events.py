from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import errors
from aiokafka.errors import KafkaConnectionError
from pingou.common.v1 import common_pb2
from pingou.testkit.v1 import notes_pb2

from libs.core import BusinessLine
from libs.events import build_envelope, dead_letter_topic, ensure_topics, topic_name
from libs.events.relay import Failure, RelayConfig, classify, retry_pause
from tests.support.notes import free_port


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


@pytest.mark.parametrize(
    "error",
    [
        errors.NotLeaderForPartitionError(),  # a partition without a leader past the request timeout
        errors.LeaderNotAvailableError(),
        errors.RequestTimedOutError(),
        errors.KafkaTimeoutError(),  # aiokafka says not retriable; a timeout under load is not the row's fault
        errors.KafkaConnectionError(),
        errors.NodeNotReadyError(),
        errors.NotEnoughReplicasError(),
        errors.UnknownTopicOrPartitionError(),  # a topic not created yet
        errors.OutOfOrderSequenceNumber(),  # the producer's sequence after a failed batch: a new producer fixes it
        errors.UnknownProducerId(),
        errors.BrokerNotAvailableError(),
        errors.ClusterAuthorizationFailedError(),  # the relay's credentials, not the row
        errors.ProducerClosed(),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_delivery_failures_that_pass_are_retried_not_set_aside(error: BaseException) -> None:
    assert classify(error) is Failure.TRANSIENT


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (errors.MessageSizeTooLargeError(), Failure.RECORD),
        (errors.RecordListTooLargeError(), Failure.RECORD),
        (errors.RecordTooLargeError(), Failure.RECORD),
        (errors.CorruptRecordException(), Failure.RECORD),
        (errors.InvalidTimestampError(), Failure.RECORD),
        (errors.UnknownError(), Failure.RECORD),  # what aiokafka makes of codes it does not know (INVALID_RECORD)
        (errors.TopicAuthorizationFailedError(), Failure.TOPIC),
        (errors.PolicyViolationError(), Failure.TOPIC),
        (errors.InvalidTopicError(), Failure.TOPIC),
    ],
)
def test_refusals_of_the_record_or_its_topic_are_permanent(error: BaseException, failure: Failure) -> None:
    assert classify(error) is failure


def test_the_retry_pause_doubles_from_the_first_up_to_the_cap() -> None:
    config = RelayConfig(retry_pause=0.5, max_retry_pause=30.0)
    assert [retry_pause(failures, config) for failures in (1, 2, 3, 4, 7, 8, 1000)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        30.0,
        30.0,
        30.0,
    ]


async def test_creating_topics_waits_for_a_broker_that_does_not_answer_then_gives_up() -> None:
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError):
        await ensure_topics(f"127.0.0.1:{free_port()}", ["t.order.v1"], wait_s=1.0)
    assert 0.7 <= time.monotonic() - started < 10  # asked again until the wait ran out, not at once
