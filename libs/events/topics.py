"""Topic administration: the platform creates its topics (brokers run with auto-creation off).

A service starts while its broker restarts: `ensure_topics` waits for the broker, asking again after a
pause doubling to 5 s, for up to `wait_s`, before it gives up (and the service with it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

from libs.events.envelope import dead_letter_topic
from libs.logs import get_logger

TOPIC_ALREADY_EXISTS = 36
BROKER_WAIT_S = 120.0
_BROKER_AWAY = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, OSError)
log = get_logger(__name__)


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    with_dead_letters: bool = True,
    wait_s: float = BROKER_WAIT_S,
) -> list[str]:
    """Create the missing topics (and their dead-letter topics); returns the names created. Waits up to
    `wait_s` for a broker that does not answer."""
    wanted = set(topics)
    if with_dead_letters:
        wanted |= {dead_letter_topic(topic) for topic in wanted if not topic.endswith(".dlq")}
    give_up, pause = time.monotonic() + wait_s, 0.25
    while True:
        try:
            return await _create_missing(bootstrap_servers, wanted, partitions, replication_factor)
        except _BROKER_AWAY as error:
            if time.monotonic() + pause > give_up:
                raise
            log.warning("kafka_not_answering", bootstrap_servers=bootstrap_servers, error=repr(error), retry_in_s=pause)
            await asyncio.sleep(pause)
            pause = min(2 * pause, 5.0)


async def _create_missing(
    bootstrap_servers: str, wanted: set[str], partitions: int, replication_factor: int
) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        missing = sorted(wanted - set(await admin.list_topics()))
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor) for name in missing]
        )
        for name, code, *rest in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"cannot create topic {name}: error {code} {rest[0] if rest else ''}")
        return missing
    finally:
        await admin.close()
