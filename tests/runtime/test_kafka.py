"""The client factory's key partitioner: the Java client's murmur2 placement, as aiokafka's own."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from monitor.runtime import kafka as kafka_clients
from monitor.runtime.kafka import murmur2, partition_for_key
from monitor.runtime.settings import KafkaSettings, load_settings

PARTITION_LISTS = st.lists(st.integers(0, 1000), min_size=1, max_size=64, unique=True).map(sorted)


@given(st.binary(max_size=200))
def test_murmur2_is_aiokafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.integers(0, 40).flatmap(lambda words: st.binary(min_size=words * 4, max_size=words * 4 + 3)))
def test_murmur2_is_aiokafkas_at_every_word_count(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_murmur2_of_keys_longer_than_the_cached_word_counts() -> None:
    for size in (1024, 1025, 1027, 4099):
        data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        assert murmur2(data) == aiokafka_murmur2(data)


@given(st.binary(max_size=64), PARTITION_LISTS)
def test_a_keyed_record_goes_where_aiokafka_puts_it(key: bytes, partitions: list[int]) -> None:
    assert partition_for_key(key, partitions, partitions[:1]) == DefaultPartitioner()(key, partitions, partitions[:1])


@given(PARTITION_LISTS, st.data())
def test_a_record_without_key_goes_to_an_available_partition(partitions: list[int], data: st.DataObject) -> None:
    available = data.draw(st.lists(st.sampled_from(partitions), unique=True))
    assert partition_for_key(None, partitions, available) in (available or partitions)


async def test_the_factorys_producers_place_keys_with_it() -> None:
    settings = load_settings(KafkaSettings, None, {"KAFKA_BROKER": "127.0.0.1:9"})
    default, chosen = kafka_clients.producer(settings), kafka_clients.producer(settings, partitioner=DefaultPartitioner())
    try:
        assert default._partitioner is partition_for_key
        assert isinstance(chosen._partitioner, DefaultPartitioner)
    finally:
        await default.stop()
        await chosen.stop()
