"""The delivery ledger's changelog: the compacted `sla-notify-state` topic, read at start, written per delivery."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from monitor.notify.ledger import DeliveryRecord, Ledger
from monitor.runtime import kafka as kafka_clients
from monitor.runtime.settings import KafkaSettings

log = structlog.get_logger("monitor.notify.state")


class StateStore:
    """Reads the state topic into a Ledger (catch_up) and appends records (write, acks=all)."""

    def __init__(self, kafka: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self.kafka = kafka
        self.topic = topic
        self.producer = producer
        self._reader: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self.loaded = 0

    async def start(self) -> None:
        """Open the reader (no consumer group: it reads every partition)."""
        self._reader = kafka_clients.consumer(self.kafka, group_id=None, auto_offset_reset="earliest")
        await self._reader.start()
        partitions = self._reader.partitions_for_topic(self.topic)
        for _ in range(50):
            if partitions:
                break
            await asyncio.sleep(0.1)
            await self._reader.topics()  # refreshes metadata: the topic may have just been created
            partitions = self._reader.partitions_for_topic(self.topic)
        if not partitions:
            raise RuntimeError(f"state topic {self.topic} has no partitions")
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._reader.assign(tps)
        await self._reader.seek_to_beginning(*tps)

    async def stop(self) -> None:
        """Close the reader."""
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    async def catch_up(self, ledger: Ledger) -> int:
        """Apply every record up to the topic's current end to the ledger; return how many were read."""
        assert self._reader is not None
        async with self._lock:
            tps = list(self._reader.assignment())
            end = await self._reader.end_offsets(tps)
            count = 0
            while await self._behind(end):
                batches = await self._reader.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        if record.value is None:
                            continue
                        try:
                            ledger.apply(DeliveryRecord.from_json(record.value))
                            count += 1
                        except (ValueError, KeyError, TypeError):
                            log.warning("state_record_unreadable", partition=record.partition, offset=record.offset)
            self.loaded += count
            return count

    async def _behind(self, end: dict[TopicPartition, int]) -> bool:
        assert self._reader is not None
        for tp, last in end.items():
            if await self._reader.position(tp) < last:
                return True
        return False

    async def write(self, record: DeliveryRecord) -> None:
        """Append one record and wait for the broker's acknowledgement (acks=all)."""
        await self.producer.send_and_wait(self.topic, key=record.key, value=record.to_json())
