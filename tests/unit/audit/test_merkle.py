"""The Merkle tree of RFC 9162: its shape against a brute-force root for many sizes, and
every inclusion and consistency proof up to a size verified (and tampered ones refused)."""

from __future__ import annotations

import hashlib

import pytest

from fairban.audit.merkle import (
    EMPTY_ROOT,
    LeafHashes,
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    split,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(200)]


def brute_root(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 read literally: split at the largest power of two < n."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + brute_root(hashes[:k]) + brute_root(hashes[k:])).digest()


def test_the_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
    assert (
        node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    )
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_the_rfc_6962_test_vector_roots() -> None:
    """The roots of the certificate-transparency reference tests (the eight leaves
    0x, 00, 10, 2021, 3031, 40414243, 5051525354555657, 606162...6f)."""
    data = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        bytes(range(0x60, 0x70)),
    ]
    roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    hashes = [leaf_hash(d) for d in data]
    for n, expected in enumerate(roots, 1):
        assert tree_root(hashes[:n]).hex() == expected


@pytest.mark.parametrize("n", range(200))
def test_every_root_has_the_rfc_shape(n: int) -> None:
    expected = brute_root(LEAVES[:n])
    assert tree_root(LEAVES[:n]) == expected
    assert subtree_root(LEAVES, 0, n) == expected
    assert subtree_root(LeafHashes(LEAVES[:n])) == expected


def test_split_is_the_largest_power_of_two_below() -> None:
    assert [split(n) for n in range(2, 12)] == [1, 2, 2, 4, 4, 4, 4, 8, 8, 8]
    with pytest.raises(ValueError, match="does not split"):
        split(1)


def test_the_builder_keeps_one_peak_per_set_bit() -> None:
    builder = RootBuilder()
    for n, h in enumerate(LEAVES[:37], 1):
        builder.append(h)
        assert len(builder.peaks) == bin(n).count("1")
    # a batch of a power of two leaves is one peak: a subtree the log can sign as a node
    assert builder.peaks[0] == subtree_root(LEAVES, 0, 32)
    assert builder.peaks[1] == subtree_root(LEAVES, 32, 36)
    assert builder.peaks[2] == LEAVES[36]


def test_packed_leaves_read_like_a_list() -> None:
    packed = LeafHashes(LEAVES[:5])
    assert len(packed) == 5
    assert list(packed) == LEAVES[:5]
    assert packed[-1] == LEAVES[4]
    assert packed[1:3] == LEAVES[1:3]
    with pytest.raises(IndexError):
        packed[5]
    with pytest.raises(ValueError, match="32 bytes"):
        packed.append(b"short")


def test_every_inclusion_proof_up_to_64_leaves_verifies() -> None:
    for n in range(1, 65):
        root = tree_root(LEAVES[:n])
        for m in range(n):
            proof = inclusion_proof(LEAVES, m, n)
            assert len(proof) <= (n - 1).bit_length()
            assert verify_inclusion(LEAVES[m], m, n, proof, root), (m, n)
            # another leaf, another place or a changed hash: refused
            assert not verify_inclusion(LEAVES[m + 1], m, n, proof, root)
            if n > 1:
                assert not verify_inclusion(LEAVES[m], (m + 1) % n, n, proof, root)
            if proof:
                bad = [*proof[:-1], bytes(32)]
                assert not verify_inclusion(LEAVES[m], m, n, bad, root)
                assert root_from_inclusion(LEAVES[m], m, n, [*proof, proof[0]]) is None


def test_an_inclusion_proof_outside_the_tree_is_refused() -> None:
    assert not verify_inclusion(LEAVES[0], 3, 3, [], tree_root(LEAVES[:3]))
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(LEAVES, 5, 5)


def test_every_consistency_proof_up_to_64_leaves_verifies() -> None:
    roots = [tree_root(LEAVES[:n]) for n in range(66)]
    for n in range(0, 65):
        for m in range(0, n + 1):
            proof = consistency_proof(LEAVES, m, n)
            assert verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            if 0 < m < n:
                # another old root, another new root, a changed hash: refused
                assert not verify_consistency(m, n, roots[m + 1], roots[n], proof)
                assert not verify_consistency(m, n, roots[m], roots[n + 1], proof)
                for i in range(len(proof)):
                    bad = [*proof[:i], bytes(32), *proof[i + 1 :]]
                    assert not verify_consistency(m, n, roots[m], roots[n], bad)
                assert not verify_consistency(m, n, roots[m], roots[n], [])


def test_a_rewritten_old_leaf_breaks_consistency() -> None:
    forked = [*LEAVES[:10], leaf_hash(b"forged"), *LEAVES[11:40]]
    proof = consistency_proof(forked, 20, 40)
    assert not verify_consistency(20, 40, tree_root(LEAVES[:20]), tree_root(forked), proof)
    assert not verify_consistency(5, 3, EMPTY_ROOT, EMPTY_ROOT, [])
