"""The outbox relay through failed deliveries, against the real broker (issue 11): a transient failure is
retried for as long as it lasts, well past the ten attempts that used to park a row; a record Kafka
refuses for good is set aside while the later rows of its key wait and the other keys go on; and in the
end every event is delivered once, in order per key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from libs.events import ensure_topics
from libs.events.set_aside import replay, set_aside_rows
from tests.conftest import REPO, Infra
from tests.support.outbox import Scenario
from tests.support.waiting import eventually, stop

pytestmark = pytest.mark.infra

SMALL_RECORDS = "4096"  # max.message.bytes of the topic that refuses large records
BROKER_DEFAULT = "1048588"


@pytest.fixture
async def scenario(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Scenario]:
    async with Scenario(infra, database_url, topic_prefix) as created:
        yield created


def in_order_per_key(delivered: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for event_id, key, _ in delivered:
        by_key[key].append(event_id)
    return dict(by_key)


def texts_per_key(delivered: Sequence[tuple[str, str, str]]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for _, key, text in delivered:
        by_key[key].append(text)
    return dict(by_key)


async def max_attempts(scenario: Scenario) -> int:
    return int(await scenario.pool.fetchval("SELECT coalesce(max(attempts), 0) FROM outbox"))


async def set_aside_count(scenario: Scenario) -> int:
    return int(await scenario.pool.fetchval("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL"))


async def test_a_partition_without_a_leader_is_retried_past_ten_failures_then_every_event_arrives_once_in_order(
    scenario: Scenario,
) -> None:
    """The topic is deleted under a running relay, then created again. The relay's first record batches
    for it expire with no leader for their partition (NotLeaderForPartitionError, after the 300 ms send
    timeout), and from then on its partitions cannot be found (UnknownTopicOrPartitionError), many more
    than ten times. The other topic's events keep flowing meanwhile, nothing is set aside, and once the
    topic is back every event arrives exactly once, in order per key. (With a single broker this is the
    way to take a partition's leader away: a replica on a broker that does not exist is refused.)"""
    other = f"{scenario.topic_stem}.other.v1"
    await ensure_topics(scenario.kafka, [other])
    relay = asyncio.create_task(scenario.relay(send_timeout_ms=300, retry_pause=0.05, max_retry_pause=0.2).run())
    admin = AIOKafkaAdminClient(bootstrap_servers=scenario.kafka)
    await admin.start()
    try:
        # The relay's producer learns both topics; these first two events go with the deleted topic.
        await scenario.append("warm-up", "0")
        await scenario.append("warm-up", "0", topic=other)
        await eventually(scenario.all_published)
        await admin.delete_topics([scenario.topic])

        async def deleted() -> bool:
            return scenario.topic not in await admin.list_topics()

        await eventually(deleted)
        with capture_logs() as logs:
            expected: dict[str, list[str]] = defaultdict(list)
            for n in range(30):
                key = f"note-{n % 5}"
                expected[key].append(str(await scenario.append(key, str(n))))
                await scenario.append(f"other-{n % 3}", str(n), topic=other)

            async def others_delivered() -> bool:
                waiting = await scenario.pool.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", other)
                return bool(waiting == 0)

            await eventually(others_delivered)

            async def failed_more_than_ten_times() -> bool:
                return await max_attempts(scenario) > 10

            await eventually(failed_more_than_ten_times, timeout=60)
            assert await set_aside_count(scenario) == 0
            assert await scenario.pending() == 30
            await ensure_topics(scenario.kafka, [scenario.topic])
            await eventually(scenario.all_published, timeout=60)
    finally:
        await admin.close()
        await stop(relay)

    delivered = await scenario.delivered(30)
    assert in_order_per_key(delivered) == expected  # each once, in the order appended
    assert len(delivered) == 30
    errors = " ".join(str(entry.get("error")) for entry in logs if entry["event"] == "relay_delivery_failed")
    assert "NotLeaderForPartitionError" in errors
    assert "UnknownTopicOrPartitionError" in errors
    others = await scenario.delivered(31, topic=other)
    assert texts_per_key(others) == {
        "warm-up": ["0"],
        **{f"other-{k}": [str(n) for n in range(30) if n % 3 == k] for k in range(3)},
    }


def partition_of(key: str, partitions: int = 3) -> int:
    """The partition of a key, by the producer's default rule (murmur2, as Kafka's Java client)."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


def run_cli(scenario: Scenario, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libs.events", *args, "--schema", scenario.schema],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": scenario.database_url, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_record_the_topic_refuses_is_set_aside_and_holds_back_only_its_own_key_until_replayed(
    scenario: Scenario,
) -> None:
    """The topic takes record batches of at most 4 KB. An 8 KB event is refused (MessageSizeTooLarge) and
    set aside at once, and so is another on a second key. The record batch it came in is sent again row
    by row, so the rows of another key on its partition are delivered (the relay's producer had written
    there, so it must be replaced to send again); the later rows of the refused keys wait, unsent. Once the
    topic takes larger records, one row is replayed by the module and the other by the command line: the
    rest of each key follows, in order, each event once."""
    big, other_big, small = "big", "other-big", f"small-{partition_of('big')}"
    while partition_of(small) != partition_of(big):  # a key on the big one's partition
        small += "x"
    topic = f"{scenario.topic_stem}.small-records.v1"
    admin = AIOKafkaAdminClient(bootstrap_servers=scenario.kafka)
    await admin.start()
    relay = asyncio.create_task(scenario.relay(retry_pause=0.05, report_interval=0.1).run())
    try:
        await admin.create_topics(
            [
                NewTopic(
                    topic, num_partitions=3, replication_factor=1, topic_configs={"max.message.bytes": SMALL_RECORDS}
                )
            ]
        )
        await scenario.append_together([(big, "0"), (small, "0")], topic=topic)
        await eventually(scenario.all_published)
        with capture_logs() as logs:
            ids = await scenario.append_together(
                [
                    (small, "1"),
                    (big, "1" * 8000),
                    (small, "2"),
                    (big, "2"),
                    ("elsewhere", "1"),
                    (other_big, "1" * 8000),
                    (big, "3"),
                    (other_big, "2"),
                    (small, "3"),
                ],
                topic=topic,
            )
            refused = [ids[1], ids[5]]

            async def refused_set_aside() -> bool:
                return await set_aside_count(scenario) == 2

            await eventually(refused_set_aside)
            await scenario.append("elsewhere", "2", topic=topic)  # the relay goes on with other keys

            async def all_but_the_refused_keys_delivered() -> bool:
                return await scenario.pending() == 3

            await eventually(all_but_the_refused_keys_delivered)

            async def reported() -> bool:
                value = REGISTRY.get_sample_value("outbox_parked_events", {"schema": scenario.schema})
                return value == 2

            await eventually(reported)
        waiting = await scenario.pool.fetch("SELECT key, attempts, parked_at FROM outbox ORDER BY id")
        assert [(row["key"], row["attempts"], row["parked_at"] is not None) for row in waiting] == [
            (big, 1, True),  # set aside at its first refusal
            (big, 0, False),  # never sent: it waits behind the refused row of its key
            (other_big, 1, True),
            (big, 0, False),
            (other_big, 0, False),
        ]
        assert any(entry["event"] == "outbox_rows_set_aside" and entry["count"] == 2 for entry in logs)

        listed = await set_aside_rows(scenario.pool)
        assert [(row.id, row.key, row.event_type, row.waiting_behind) for row in listed] == [
            (await id_of(scenario, refused[0]), big, "pingou.testkit.v1.NoteCreated", 2),
            (await id_of(scenario, refused[1]), other_big, "pingou.testkit.v1.NoteCreated", 1),
        ]
        assert all("MessageSizeTooLargeError" in (row.error or "") for row in listed)
        shown = await asyncio.to_thread(run_cli, scenario, "set-aside")
        assert shown.returncode == 0, shown.stderr
        assert str(listed[0].id) in shown.stdout
        assert "MessageSizeTooLargeError" in shown.stdout

        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": BROKER_DEFAULT})]
        )

        async def takes_large_records() -> bool:
            (described,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            (resource,) = described.resources
            return any(name == "max.message.bytes" and value == BROKER_DEFAULT for name, value, *_ in resource[4])

        await eventually(takes_large_records)
        assert await replay(scenario.pool, [listed[0].id, 999_999]) == [listed[0].id]

        async def big_key_delivered() -> bool:
            keys = await scenario.pool.fetch("SELECT DISTINCT key FROM outbox")
            return [row["key"] for row in keys] == [other_big]

        await eventually(big_key_delivered)
        replayed = await asyncio.to_thread(run_cli, scenario, "replay", "--all")
        assert replayed.returncode == 0, replayed.stderr
        assert f"replayed 1 row(s) in {scenario.schema}: {listed[1].id}" in replayed.stdout
        await eventually(scenario.all_published)
    finally:
        await stop(relay)
        await admin.close()

    delivered = await scenario.delivered(12, topic=topic)
    texts = {key: [text[:1] for text in found] for key, found in texts_per_key(delivered).items()}
    assert texts == {
        big: ["0", "1", "2", "3"],
        small: ["0", "1", "2", "3"],
        "elsewhere": ["1", "2"],
        other_big: ["1", "2"],
    }
    assert len(delivered) == 12  # each event once
    assert await set_aside_rows(scenario.pool) == []


async def id_of(scenario: Scenario, event_id: object) -> int:
    return int(await scenario.pool.fetchval("SELECT id FROM outbox WHERE event_id = $1", event_id))
