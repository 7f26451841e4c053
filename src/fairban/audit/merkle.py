"""A Merkle tree in the shape of RFC 9162 (Certificate Transparency v2), §2.1: hashes,
inclusion proofs and consistency proofs, over any sequence of leaf hashes.

- ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
- the tree of no leaves has the root ``SHA-256()``, of one leaf that leaf's hash, and of
  ``n > 1`` leaves ``node_hash(MTH(D[0:k]), MTH(D[k:n]))`` where ``k`` is the largest
  power of two smaller than ``n``.

The audit log's checkpoints sign such a root over its entries (``fairban.audit.heads``);
the module knows nothing of entries, so a batch of entries can be a subtree of its own
(:func:`subtree_root`, :class:`RootBuilder`'s ``peaks``). Written here rather than taken
from a library: the one maintained Python package for it is GPL and not in the RFC's
proof format, and the RFC's algorithms are short. Pure: no database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

HASH_SIZE = 32
#: the root of the tree of no leaves: the hash of the empty string
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """The hash of a leaf's data: ``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): where the tree of ``n``
    leaves splits."""
    if n < 2:
        raise ValueError(f"a tree of {n} leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


class LeafHashes(Sequence[bytes]):
    """Leaf hashes packed in one buffer (32 bytes each, none of a ``bytes`` object's
    overhead): a log of ten million entries takes 320 MB, not a gigabyte."""

    def __init__(self, hashes: Iterable[bytes] = ()) -> None:
        self._buffer = bytearray()
        for h in hashes:
            self.append(h)

    @classmethod
    def from_bytes(cls, data: bytes) -> LeafHashes:
        """Leaf hashes from their concatenation (as :meth:`to_bytes` writes them)."""
        if len(data) % HASH_SIZE:
            raise ValueError(f"{len(data)} bytes are not a whole number of leaf hashes")
        packed = cls()
        packed._buffer = bytearray(data)
        return packed

    def to_bytes(self) -> bytes:
        return bytes(self._buffer)

    def append(self, h: bytes) -> None:
        if len(h) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(h)}")
        self._buffer += h

    def __len__(self) -> int:
        return len(self._buffer) // HASH_SIZE

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return bytes(self._buffer[index * HASH_SIZE : (index + 1) * HASH_SIZE])

    def __iter__(self) -> Iterator[bytes]:
        view = memoryview(self._buffer)
        for offset in range(0, len(view), HASH_SIZE):
            yield bytes(view[offset : offset + HASH_SIZE])


class RootBuilder:
    """The root of a growing tree in one pass and ``O(log n)`` memory: the roots of the
    perfect subtrees that make up the leaves so far (``peaks``, largest first, one per
    set bit of the size), folded from the right as RFC 9162's shape asks."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []

    def append(self, h: bytes) -> None:
        """Add the next leaf hash."""
        self._peaks.append(h)
        self.size += 1
        # each trailing 1 bit of the new size merges two equal subtrees into one
        size = self.size
        while size & 1 == 0:
            right = self._peaks.pop()
            self._peaks[-1] = node_hash(self._peaks[-1], right)
            size >>= 1

    @property
    def peaks(self) -> tuple[bytes, ...]:
        return tuple(self._peaks)

    def root(self) -> bytes:
        """The root of the tree of the leaves appended so far."""
        if not self._peaks:
            return EMPTY_ROOT
        root = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            root = node_hash(peak, root)
        return root


def tree_root(hashes: Iterable[bytes]) -> bytes:
    """The root of the tree of these leaf hashes, in one pass."""
    builder = RootBuilder()
    for h in hashes:
        builder.append(h)
    return builder.root()


#: subtree roots already computed, by (start, end): proofs of several leaves of one tree
#: share their upper siblings
Memo = dict[tuple[int, int], bytes]


def subtree_root(
    hashes: Sequence[bytes], start: int = 0, end: int | None = None, memo: Memo | None = None
) -> bytes:
    """``MTH(D[start:end])``: the root of the tree of the leaf hashes in that range."""
    end = len(hashes) if end is None else end
    if not 0 <= start <= end <= len(hashes):
        raise ValueError(f"range {start}..{end} is not within {len(hashes)} leaves")
    if start == end:
        return EMPTY_ROOT
    if end - start == 1:
        return hashes[start]
    if memo is not None and (start, end) in memo:
        return memo[start, end]
    k = split(end - start)
    root = node_hash(
        subtree_root(hashes, start, start + k, memo), subtree_root(hashes, start + k, end, memo)
    )
    if memo is not None and end - start >= 64:  # only the large ones are worth keeping
        memo[start, end] = root
    return root


# --- proofs (RFC 9162 §2.1.3.1 and §2.1.4.1) -----------------------------------------


def inclusion_proof(
    hashes: Sequence[bytes], index: int, size: int | None = None, memo: Memo | None = None
) -> list[bytes]:
    """``PATH(index, D[0:size])``: the hashes that lead from leaf ``index`` to the root of
    the tree of the first ``size`` leaves (all by default), nearest the leaf first."""
    size = len(hashes) if size is None else size
    if not 0 <= index < size <= len(hashes):
        raise ValueError(f"leaf {index} is not in a tree of {size} of {len(hashes)} leaves")
    path: list[bytes] = []
    start, end = 0, size
    # walk down from the root, collecting each sibling; the path reads bottom up
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(subtree_root(hashes, start + k, end, memo))
            end = start + k
        else:
            path.append(subtree_root(hashes, start, start + k, memo))
            start += k
    path.reverse()
    return path


def consistency_proof(
    hashes: Sequence[bytes], old_size: int, size: int | None = None
) -> list[bytes]:
    """``PROOF(old_size, D[0:size])``: the hashes that show the tree of the first
    ``size`` leaves extends the tree of the first ``old_size``. Empty when ``old_size``
    is 0 or ``size`` (nothing to prove)."""
    size = len(hashes) if size is None else size
    if not 0 <= old_size <= size <= len(hashes):
        raise ValueError(f"no consistency proof from {old_size} to {size} leaves")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []
    start, end, whole = 0, size, True
    m = old_size
    while m != end - start:
        k = split(end - start)
        if m <= k:
            proof.append(subtree_root(hashes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_root(hashes, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:  # the old tree's subtree here is not the old root itself: give it
        proof.append(subtree_root(hashes, start, end))
    proof.reverse()
    return proof


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -----------------------------------


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that ``proof`` leads to from leaf hash ``leaf`` at ``index`` of ``size``
    leaves, or ``None`` when the proof has the wrong length for that place."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size``
    leaves whose root is ``root``."""
    return root_from_inclusion(leaf, index, size, proof) == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree of ``size`` leaves with ``root`` extends the tree
    of ``old_size`` leaves with ``old_root``."""
    if not 0 <= old_size <= size:
        return False
    if old_size == size:
        return not proof and old_root == root
    if old_size == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node here
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == root and sn == 0
