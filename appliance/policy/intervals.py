"""Disjoint-interval tables: the prefix and range structure behind every numeric match.

A table maps any integer key (an address, a port) to the bitset of rules whose
condition on that dimension accepts the key. It is built by a sweep over the
boundaries of all spans (CIDRs become ``[network, network + size)``, port ranges
``[low, high + 1)``), so a lookup is one :func:`bisect.bisect_right` over a sorted
list, whatever the number of prefixes or their lengths. Each span belongs to a
*group* (an address set, or one rule's literal list) whose rule bitset is shared:
all 100,000 prefixes of a set that three rules reference point at the same int,
so memory grows with the number of distinct boundary points, not with rules x
prefixes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

Span = tuple[int, int, int]
"""``(start, end_exclusive, group)``."""


class IntervalTable:
    """Sorted boundaries and the rule bitset that applies from each boundary on."""

    __slots__ = ("base", "starts", "values")

    def __init__(self, starts: list[int], values: list[int], base: int) -> None:
        self.starts = starts
        self.values = values
        self.base = base
        """Rules with no condition on this dimension (in every answer)."""

    def lookup(self, key: int) -> int:
        """The rule bitset for ``key`` (keys below the first boundary get the first value)."""
        return self.values[bisect_right(self.starts, key) - 1]

    def __len__(self) -> int:
        return len(self.starts)

    def __getstate__(self) -> tuple[list[int], list[SparseBits], list[int], int]:
        # pickle does not memoize ints: send each distinct bitset once, as the few rule
        # numbers it adds to ``base``, plus an index per interval.
        index: dict[int, int] = {}
        distinct: list[SparseBits] = []
        positions: list[int] = []
        for value in self.values:
            # by identity: equal bitsets are mostly the same object (the build cache), and
            # hashing a 10,000-bit int on every interval costs more than the rare duplicate
            at = index.get(id(value))
            if at is None:
                at = index[id(value)] = len(distinct)
                distinct.append(encode_bits(value, self.base))
            positions.append(at)
        return self.starts, distinct, positions, self.base

    def __setstate__(self, state: tuple[list[int], list[SparseBits], list[int], int]) -> None:
        starts, distinct, positions, base = state
        decoded = [decode_bits(item, base) for item in distinct]
        self.starts = starts
        self.values = [decoded[at] for at in positions]
        self.base = base


SparseBits = tuple[int, ...] | int
"""A bitset as the bit numbers it adds to a base (when few), or the int itself."""
_SPARSE_LIMIT = 64


def encode_bits(value: int, base: int) -> SparseBits:
    """``value`` as the bits it has beyond ``base`` (``value`` must include ``base``)."""
    extra = value & ~base
    if extra.bit_count() > _SPARSE_LIMIT or value & base != base:
        return value
    bits: list[int] = []
    while extra:
        lowest = extra & -extra
        bits.append(lowest.bit_length() - 1)
        extra ^= lowest
    return tuple(bits)


def decode_bits(item: SparseBits, base: int) -> int:
    """Inverse of :func:`encode_bits`."""
    if isinstance(item, int):
        return item
    value = base
    for bit in item:
        value |= 1 << bit
    return value


def build_table(spans: Sequence[Span], group_bits: Sequence[int], base: int) -> IntervalTable:
    """Sweep ``spans`` into an :class:`IntervalTable`.

    Args:
        spans: intervals with the group each belongs to; they may overlap or nest.
        group_bits: rule bitset of each group.
        base: bitset every key gets (rules with no condition on this dimension).
    """
    opens = sorted(spans)
    closes = sorted((end, group) for _, end, group in spans)
    starts = [0]
    values = [base]
    active: dict[int, int] = {}
    cache: dict[frozenset[int], int] = {frozenset(): base}
    total = len(spans)
    i = j = 0
    beyond = 1 << 200
    while i < total or j < total:
        point = min(opens[i][0] if i < total else beyond, closes[j][0] if j < total else beyond)
        while j < total and closes[j][0] == point:
            group = closes[j][1]
            left = active[group] - 1
            if left:
                active[group] = left
            else:
                del active[group]
            j += 1
        while i < total and opens[i][0] == point:
            group = opens[i][2]
            active[group] = active.get(group, 0) + 1
            i += 1
        key = frozenset(active)
        value = cache.get(key)
        if value is None:
            value = base
            for group in key:
                value |= group_bits[group]
            cache[key] = value
        if point == starts[-1]:
            values[-1] = value
        elif value != values[-1]:
            starts.append(point)
            values.append(value)
    return IntervalTable(starts, values, base)
