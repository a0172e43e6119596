"""The consumer group's position on each partition, from Kafka itself: what the group has committed
against where each partition ends. It covers every partition of the topics, whichever replica holds it
(the `consumer_lag_messages` gauge of libs.metrics is each replica's view of its own partitions).

A broker that cannot answer yet (its group coordinator still electing, as on a fresh or restarted broker)
is asked again for a few seconds; after that the call is refused as UNAVAILABLE KAFKA_UNAVAILABLE, which a
client may retry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, KafkaTimeoutError

from libs.core import Unavailable
from services.analytics.domain.model import PartitionLag

RETRY_FOR_S = 5.0
FIRST_PAUSE_S = 0.1


class KafkaPositions:
    def __init__(self, bootstrap_servers: str, *, group: str):
        self._bootstrap = bootstrap_servers
        self._group = group
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None  # no group: it only reads partitions' ends
        self._starting = asyncio.Lock()

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._starting:
            if self._admin is None or self._offsets is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
                try:
                    await admin.start()
                    offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
                    try:
                        await offsets.start()
                    except BaseException:
                        await offsets.stop()
                        raise
                except BaseException:
                    await admin.close()
                    raise
                self._admin, self._offsets = admin, offsets
            return self._admin, self._offsets

    async def lags(self, topics: Sequence[str]) -> list[PartitionLag]:
        loop = asyncio.get_running_loop()
        give_up_at, pause = loop.time() + RETRY_FOR_S, FIRST_PAUSE_S
        while True:
            try:
                return await self._lags(topics)
            except KafkaError as error:
                if not (error.retriable or isinstance(error, KafkaTimeoutError)):
                    raise  # a refused group or a misconfiguration: no retry helps
                if loop.time() + pause > give_up_at:
                    raise Unavailable(
                        f"Kafka did not answer for the consumer's positions ({type(error).__name__}); retry",
                        reason="KAFKA_UNAVAILABLE",
                    ) from error
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _lags(self, topics: Sequence[str]) -> list[PartitionLag]:
        admin, offsets = await self._clients()
        described = await admin.describe_topics(list(topics))
        partitions = [
            TopicPartition(topic["topic"], part["partition"]) for topic in described for part in topic["partitions"]
        ]
        if not partitions:
            return []
        committed = await admin.list_consumer_group_offsets(self._group, partitions=partitions)
        ends = await offsets.end_offsets(partitions)
        starts = await offsets.beginning_offsets(partitions)
        lags = []
        for partition in partitions:
            position = committed.get(partition)
            # Nothing committed yet: the group starts from the earliest record still kept.
            done = position.offset if position is not None and position.offset >= 0 else starts[partition]
            lags.append(PartitionLag(partition.topic, partition.partition, max(0, ends[partition] - done)))
        return lags

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._offsets is not None:
            await self._offsets.stop()
        self._admin = self._offsets = None
