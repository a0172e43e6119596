"""Topic administration: the platform creates its topics (brokers run with auto-creation off)."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from libs.events.envelope import dead_letter_topic

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    with_dead_letters: bool = True,
) -> list[str]:
    """Create the missing topics (and their dead-letter topics); returns the names created."""
    wanted = set(topics)
    if with_dead_letters:
        wanted |= {dead_letter_topic(topic) for topic in wanted if not topic.endswith(".dlq")}
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
