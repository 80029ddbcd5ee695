"""A model of PyTorch's CUDA caching allocator (default settings), replaying alloc/free events.

Rules (pytorch/pytorch c10/cuda/CUDACachingAllocator.cpp, summarised with sources in
shared research/memory.md §7):
* sizes round up to a multiple of 512 B (``kMinBlockSize``);
* requests <= 1 MiB use the small pool, whose segments are 2 MiB (``kSmallBuffer``); larger ones
  use the large pool: a 20 MiB segment (``kLargeBuffer``) for requests < 10 MiB
  (``kMinLargeAlloc``), else a segment of the request rounded up to 2 MiB (``kRoundLarge``);
* best fit among cached free blocks of the same pool and stream (smallest, then lowest address);
* a block is split when the remainder is >= 512 B (small pool) or > 1 MiB (large pool); freed
  neighbours in a segment merge;
* when cudaMalloc fails, cached blocks that are whole free segments are released and the
  allocation retried; failing again is an out-of-memory error.
``max_split_size_mb``, expandable segments and garbage collection thresholds are left at their
defaults (unlimited / off / off).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field

MIN_BLOCK = 512
SMALL_SIZE = 1 << 20  # 1 MiB
SMALL_BUFFER = 2 << 20  # 2 MiB
LARGE_BUFFER = 20 << 20  # 20 MiB
MIN_LARGE_ALLOC = 10 << 20  # 10 MiB
ROUND_LARGE = 2 << 20  # 2 MiB


def round_size(nbytes: int) -> int:
    """Allocator request rounding: at least 512 B, a multiple of 512 B."""
    if nbytes < MIN_BLOCK:
        return MIN_BLOCK
    return (nbytes + MIN_BLOCK - 1) // MIN_BLOCK * MIN_BLOCK


def segment_size(rounded: int) -> int:
    """cudaMalloc size for a new segment serving a request of ``rounded`` bytes."""
    if rounded <= SMALL_SIZE:
        return SMALL_BUFFER
    if rounded < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return (rounded + ROUND_LARGE - 1) // ROUND_LARGE * ROUND_LARGE


class OutOfMemory(Exception):
    def __init__(self, requested: int, reserved: int, limit: int) -> None:
        super().__init__(f"out of memory: request {requested} B with {reserved} B reserved of {limit} B")
        self.requested = requested


@dataclass(eq=False, slots=True)
class _Block:
    seg: int
    addr: int
    size: int
    small: bool
    stream: int
    free: bool = True
    prev: _Block | None = None
    next: _Block | None = None


@dataclass
class AllocatorStats:
    allocated: int = 0
    reserved: int = 0
    peak_allocated: int = 0
    peak_reserved: int = 0
    requested: int = 0
    peak_requested: int = 0
    num_segments: int = 0
    num_alloc_retries: int = 0
    peak_event_index: int = -1  # event at which reserved memory peaked


@dataclass
class CachingAllocator:
    """Replay allocations against an optional device limit (bytes available to the allocator)."""

    limit: int | None = None
    stats: AllocatorStats = field(default_factory=AllocatorStats)
    _pools: dict[tuple[bool, int], list[tuple[int, int, int]]] = field(default_factory=dict)
    _blocks: dict[int, _Block] = field(default_factory=dict)  # id(block) -> block, for free-list keys
    _live: dict[int, tuple[_Block, int]] = field(default_factory=dict)  # handle -> (block, requested)
    _segments: dict[int, int] = field(default_factory=dict)  # seg id -> size
    _next_addr: int = 0
    _next_seg: int = 0
    _events: int = 0

    # free lists hold (size, addr, id(block)) sorted
    def _pool(self, small: bool, stream: int) -> list[tuple[int, int, int]]:
        return self._pools.setdefault((small, stream), [])

    def _insert_free(self, b: _Block) -> None:
        b.free = True
        self._blocks[id(b)] = b
        insort(self._pool(b.small, b.stream), (b.size, b.addr, id(b)))

    def _remove_free(self, b: _Block) -> None:
        pool = self._pool(b.small, b.stream)
        i = bisect_left(pool, (b.size, b.addr, id(b)))
        if i < len(pool) and pool[i][2] == id(b):
            pool.pop(i)
        else:  # pragma: no cover - defensive
            pool.remove((b.size, b.addr, id(b)))
        b.free = False

    def malloc(self, handle: int, nbytes: int, stream: int = 0) -> None:
        # the hot path of every replay: round_size inlined, the best-fit block popped at its index
        size = MIN_BLOCK if nbytes < MIN_BLOCK else (nbytes + MIN_BLOCK - 1) // MIN_BLOCK * MIN_BLOCK
        small = size <= SMALL_SIZE
        pool = self._pools.get((small, stream))
        if pool is None:
            pool = self._pools[(small, stream)] = []
        i = bisect_left(pool, (size, -1, -1))
        if i < len(pool):
            block = self._blocks[pool.pop(i)[2]]
            block.free = False
        else:
            block = self._new_segment(size, small, stream)
            pool = self._pools[(small, stream)]  # release_cached (OOM retry) rebuilds the free lists
        remaining = block.size - size
        if (small and remaining >= MIN_BLOCK) or (not small and remaining > SMALL_SIZE):
            nxt = block.next
            rest = _Block(block.seg, block.addr + size, remaining, small, stream, True, block, nxt)
            if nxt is not None:
                nxt.prev = rest
            block.next = rest
            block.size = size
            self._blocks[id(rest)] = rest
            insort(pool, (remaining, rest.addr, id(rest)))
        self._live[handle] = (block, nbytes)
        st = self.stats
        st.allocated += block.size
        st.requested += nbytes
        if st.allocated > st.peak_allocated:
            st.peak_allocated = st.allocated
        if st.requested > st.peak_requested:
            st.peak_requested = st.requested

    def _new_segment(self, size: int, small: bool, stream: int) -> _Block:
        seg_bytes = segment_size(size)
        if self.limit is not None and self.stats.reserved + seg_bytes > self.limit:
            self.stats.num_alloc_retries += 1
            self.release_cached()
            if self.stats.reserved + seg_bytes > self.limit:
                raise OutOfMemory(size, self.stats.reserved, self.limit)
        seg = self._next_seg
        self._next_seg += 1
        self._segments[seg] = seg_bytes
        block = _Block(seg, self._next_addr, seg_bytes, small, stream, False)
        self._next_addr += seg_bytes
        st = self.stats
        st.reserved += seg_bytes
        st.num_segments += 1
        if st.reserved > st.peak_reserved:
            st.peak_reserved = st.reserved
            st.peak_event_index = self._events
        return block

    def free(self, handle: int) -> None:
        entry = self._live.pop(handle, None)
        if entry is None:
            return
        block, nbytes = entry
        self.stats.allocated -= block.size
        self.stats.requested -= nbytes
        # merge with free neighbours
        for nb in (block.prev, block.next):
            if nb is not None and nb.free:
                self._remove_free(nb)
                if nb is block.prev:
                    nb.size += block.size
                    nb.next = block.next
                    if block.next is not None:
                        block.next.prev = nb
                    block = nb
                else:
                    block.size += nb.size
                    block.next = nb.next
                    if nb.next is not None:
                        nb.next.prev = block
        self._insert_free(block)

    def release_cached(self) -> None:
        """Free every cached block that spans a whole segment (what empty_cache / the OOM retry does)."""
        for key, pool in self._pools.items():
            keep = []
            for size, addr, bid in pool:
                b = self._blocks[bid]
                if b.prev is None and b.next is None:
                    self.stats.reserved -= self._segments.pop(b.seg)
                    self._blocks.pop(bid, None)
                else:
                    keep.append((size, addr, bid))
            self._pools[key] = keep

    def tick(self) -> None:
        self._events += 1
