"""The caching-allocator model against the rules of c10/cuda/CUDACachingAllocator.cpp."""

from __future__ import annotations

import pytest

from gpuplan.memory.allocator import CachingAllocator, OutOfMemory, round_size, segment_size

KiB = 1 << 10
MiB = 1 << 20


@pytest.mark.parametrize(("nbytes", "rounded"), [
    (0, 512), (1, 512), (511, 512), (512, 512), (513, 1024), (1000, 1024), (MiB + 1, MiB + 512),
])
def test_round_size_multiple_of_512(nbytes: int, rounded: int) -> None:
    assert round_size(nbytes) == rounded


@pytest.mark.parametrize(("rounded", "segment"), [
    (512, 2 * MiB),  # small pool
    (MiB, 2 * MiB),  # largest small request
    (MiB + 512, 20 * MiB),  # smallest large request
    (10 * MiB - 512, 20 * MiB),  # below kMinLargeAlloc
    (10 * MiB, 10 * MiB),  # from kMinLargeAlloc: rounded to 2 MiB
    (11 * MiB, 12 * MiB),
    (100 * MiB + 1, 102 * MiB),
])
def test_segment_sizes(rounded: int, segment: int) -> None:
    assert segment_size(rounded) == segment


def test_small_request_opens_2mib_segment_and_splits() -> None:
    a = CachingAllocator()
    a.malloc(1, 1000)
    a.malloc(2, 1000)  # served from the remainder of the same segment
    assert a.stats.num_segments == 1
    assert a.stats.reserved == 2 * MiB
    assert a.stats.allocated == 2048
    assert a.stats.requested == 2000


def test_large_request_opens_20mib_segment() -> None:
    a = CachingAllocator()
    a.malloc(1, 2 * MiB)
    assert a.stats.reserved == 20 * MiB
    assert a.stats.allocated == 2 * MiB  # remainder 18 MiB > 1 MiB: split
    a.malloc(2, 2 * MiB)
    assert a.stats.num_segments == 1


def test_small_and_large_pools_do_not_share_segments() -> None:
    a = CachingAllocator()
    a.malloc(1, 2 * MiB)  # large pool, 18 MiB cached remainder
    a.malloc(2, 1000)  # small pool: needs its own 2 MiB segment
    assert a.stats.num_segments == 2
    assert a.stats.reserved == 22 * MiB


def test_free_then_same_size_malloc_reuses_block() -> None:
    a = CachingAllocator()
    a.malloc(1, 11 * MiB)
    a.free(1)
    assert a.stats.allocated == 0
    assert a.stats.reserved == 12 * MiB  # cached, not released
    a.malloc(2, 11 * MiB)
    assert a.stats.num_segments == 1
    assert a.stats.reserved == 12 * MiB


def test_large_pool_split_threshold_is_more_than_1mib() -> None:
    # 11 MiB -> 12 MiB segment, remainder exactly 1 MiB: not split, the whole segment is allocated
    a = CachingAllocator()
    a.malloc(1, 11 * MiB)
    assert a.stats.allocated == 12 * MiB
    # 11 MiB - 512 -> remainder 1 MiB + 512 > 1 MiB: split
    b = CachingAllocator()
    b.malloc(1, 11 * MiB - 512)
    assert b.stats.allocated == 11 * MiB - 512


def test_small_pool_split_threshold_is_512() -> None:
    a = CachingAllocator()
    a.malloc(1, MiB)
    a.malloc(2, MiB - 512)  # leaves exactly 512 B: split
    assert a.stats.allocated == 2 * MiB - 512
    a.malloc(3, 1)  # the 512 B remainder serves it
    assert a.stats.num_segments == 1
    assert a.stats.allocated == 2 * MiB


def test_cached_block_larger_than_request_is_reused_and_split() -> None:
    a = CachingAllocator()
    a.malloc(1, 11 * MiB)
    a.free(1)
    a.malloc(2, 3 * MiB)  # best fit: the cached 12 MiB block, split (remainder 9 MiB)
    assert a.stats.num_segments == 1
    assert a.stats.allocated == 3 * MiB


def test_best_fit_prefers_smallest_cached_block() -> None:
    a = CachingAllocator()
    a.malloc(1, 30 * MiB)  # 30 MiB segment
    a.malloc(2, 11 * MiB)  # 12 MiB segment
    a.free(1)
    a.free(2)
    a.malloc(3, 11 * MiB)  # fits both: takes the 12 MiB one, not split
    assert a.stats.allocated == 12 * MiB


def test_free_neighbours_merge_into_whole_segment() -> None:
    a = CachingAllocator()
    a.malloc(1, 6 * MiB)
    a.malloc(2, 6 * MiB)
    assert a.stats.num_segments == 1
    a.free(1)
    a.free(2)  # merges with the freed block before and the remainder after
    a.release_cached()
    assert a.stats.reserved == 0


def test_partially_used_segment_is_not_released() -> None:
    a = CachingAllocator()
    a.malloc(1, 6 * MiB)
    a.malloc(2, 6 * MiB)
    a.free(1)
    a.release_cached()
    assert a.stats.reserved == 20 * MiB
    # the freed 6 MiB block sits before a live block: reused without a new segment
    a.malloc(3, 6 * MiB)
    assert a.stats.num_segments == 1


def test_merged_block_serves_request_bigger_than_either_part() -> None:
    a = CachingAllocator()
    a.malloc(1, 6 * MiB)
    a.malloc(2, 6 * MiB)
    a.malloc(3, 8 * MiB)  # fills the 20 MiB segment exactly
    a.free(1)
    a.free(2)
    a.malloc(4, 12 * MiB)  # only fits in the merged 1+2 block
    assert a.stats.num_segments == 1
    assert a.stats.reserved == 20 * MiB


def test_limit_releases_cache_then_succeeds() -> None:
    a = CachingAllocator(limit=20 * MiB)
    a.malloc(1, 11 * MiB)  # 12 MiB segment
    a.free(1)
    a.malloc(2, 1000)  # 2 MiB small segment: 14 MiB reserved
    a.malloc(3, 15 * MiB)  # needs 16 MiB: 30 > 20, release the cached 12 MiB segment, retry
    assert a.stats.num_alloc_retries == 1
    assert a.stats.reserved == 18 * MiB
    assert a.stats.peak_reserved == 18 * MiB


def test_limit_raises_out_of_memory_when_nothing_to_release() -> None:
    a = CachingAllocator(limit=20 * MiB)
    a.malloc(1, 11 * MiB)  # live: cannot be released
    with pytest.raises(OutOfMemory) as info:
        a.malloc(2, 15 * MiB)
    assert info.value.requested == 15 * MiB
    assert a.stats.reserved == 12 * MiB


def test_out_of_memory_on_first_segment_past_limit() -> None:
    a = CachingAllocator(limit=4 * MiB)
    a.malloc(1, 1000)  # 2 MiB fits
    with pytest.raises(OutOfMemory):
        a.malloc(2, MiB + 512)  # a 20 MiB segment does not


def test_peaks_track_maxima() -> None:
    a = CachingAllocator()
    a.malloc(1, 11 * MiB)
    a.malloc(2, 1000)
    a.free(1)
    a.free(2)
    assert a.stats.allocated == 0
    assert a.stats.peak_allocated == 12 * MiB + 1024
    assert a.stats.peak_requested == 11 * MiB + 1000
    assert a.stats.peak_reserved == 14 * MiB


def test_free_unknown_handle_is_ignored() -> None:
    a = CachingAllocator()
    a.free(42)
    assert a.stats.allocated == 0


def test_blocks_are_reused_only_on_their_stream() -> None:
    a = CachingAllocator()
    a.malloc(1, 11 * MiB, stream=0)
    a.free(1)
    a.malloc(2, 11 * MiB, stream=1)
    assert a.stats.num_segments == 2


def _check_invariants(a: CachingAllocator) -> None:
    """Every reserved byte is in a live block or on a free list, exactly once; free lists are sorted."""
    live = sum(block.size for block, _ in a._live.values())
    cached = sum(size for pool in a._pools.values() for size, _, _ in pool)
    assert live == a.stats.allocated
    assert live + cached == a.stats.reserved == sum(a._segments.values())
    for pool in a._pools.values():
        assert pool == sorted(pool)
        assert all(a._blocks[bid].free for _, _, bid in pool)


@pytest.mark.parametrize("seed", range(40))
def test_random_alloc_free_with_cache_release_keeps_accounting(seed: int) -> None:
    """Random mixes of small/large requests, frees and OOM retries (which release cached segments in the
    middle of a malloc) never lose or double-count a block."""
    import random

    rng = random.Random(seed)
    a = CachingAllocator(limit=rng.choice([None, 200 << 20, 60 << 20]))
    live: list[int] = []
    for h in range(rng.randint(50, 600)):
        if rng.random() < 0.55 or not live:
            n = rng.choice([rng.randint(1, 600), rng.randint(1, 2 << 20), rng.randint(1 << 20, 40 << 20)])
            try:
                a.malloc(h, n)
            except OutOfMemory:
                _check_invariants(a)
                continue
            live.append(h)
        else:
            a.free(live.pop(rng.randrange(len(live))))
        _check_invariants(a)
