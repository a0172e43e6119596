"""The consumer group's position on each partition, from Kafka itself: what the group has committed
against where each partition ends. It covers every partition of the topics, whichever replica holds it
(the `consumer_lag_messages` gauge of libs.metrics is each replica's view of its own partitions)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.analytics.domain.model import PartitionLag


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
                offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
                await admin.start()
                try:
                    await offsets.start()
                except BaseException:
                    await admin.close()
                    raise
                self._admin, self._offsets = admin, offsets
            return self._admin, self._offsets

    async def lags(self, topics: Sequence[str]) -> list[PartitionLag]:
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
