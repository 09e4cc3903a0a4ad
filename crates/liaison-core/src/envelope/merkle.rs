//! The Merkle tree a batch of envelopes is signed over: RFC 9162 §2.1 hashing (leaf
//! `SHA-256(0x00 || data)`, interior node `SHA-256(0x01 || left || right)`, a tree of
//! `n` leaves split at the largest power of two below `n`), with Liaison's own domain
//! string inside every leaf so no other protocol's tree can be replayed as ours.
//!
//! [`Tree`] builds every level once (a lone last node is carried up unhashed, which
//! yields exactly the RFC's tree), so each of `n` inclusion proofs costs O(log n).
//! [`root_from_proof`] is RFC 9162 §2.1.3.2's verification, and refuses any proof that
//! does not have exactly the length the tree size and index require.

use crate::crypto;

/// The hash of a leaf or node.
pub type Hash = [u8; 32];

/// The largest tree a batch may have, and so the longest proof a verifier accepts.
pub const MAX_TREE_SIZE: u64 = 1 << 16;

/// The hash of a leaf whose data is given in `parts` (concatenated).
pub fn leaf_hash(parts: &[&[u8]]) -> Hash {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(&[0x00]);
    all.extend_from_slice(parts);
    crypto::digest_parts(&all)
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    crypto::digest_parts(&[&[0x01], left, right])
}

/// Every level of a tree, leaves first.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The tree over `leaves` (leaf hashes, in order). `None` for no leaves.
    pub fn new(leaves: Vec<Hash>) -> Option<Self> {
        if leaves.is_empty() {
            return None;
        }
        let mut levels = vec![leaves];
        while let Some(level) = levels.last().filter(|l| l.len() > 1) {
            let next = level
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [lone] => *lone,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(next);
        }
        Some(Self { levels })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        self.levels[self.levels.len() - 1][0]
    }

    /// The inclusion proof (audit path) of leaf `index`, bottom-up. `None` if out of
    /// range.
    pub fn proof(&self, index: usize) -> Option<Vec<Hash>> {
        if index >= self.levels[0].len() {
            return None;
        }
        let mut path = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            // A lone last node has no sibling at this level: it is carried up.
            if let Some(hash) = level.get(sibling) {
                path.push(*hash);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// The root that `leaf` at `index` in a tree of `size` leaves reaches through `path`,
/// or `None` if the proof is malformed (index out of range, a path too short or too
/// long). The caller compares the result with a signed root.
pub fn root_from_proof(leaf: &Hash, index: u64, size: u64, path: &[Hash]) -> Option<Hash> {
    if index >= size || size > MAX_TREE_SIZE {
        return None;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9162 §2.1.1's recursive definition, as the reference.
    fn reference_root(leaves: &[Hash]) -> Hash {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
    }

    /// RFC 9162 §2.1.3.1's recursive PATH(m, D[n]).
    fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = leaves.len().next_power_of_two() / 2;
        if m < k {
            let mut p = reference_path(m, &leaves[..k]);
            p.push(reference_root(&leaves[k..]));
            p
        } else {
            let mut p = reference_path(m - k, &leaves[k..]);
            p.push(reference_root(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u32)
            .map(|i| leaf_hash(&[&i.to_be_bytes()]))
            .collect()
    }

    #[test]
    fn matches_the_rfc_definition_for_every_size_up_to_70() {
        for n in 1..=70 {
            let l = leaves(n);
            let tree = Tree::new(l.clone()).unwrap();
            assert_eq!(tree.root(), reference_root(&l), "root, n = {n}");
            for m in 0..n {
                let path = tree.proof(m).unwrap();
                assert_eq!(path, reference_path(m, &l), "path, n = {n}, m = {m}");
                assert_eq!(
                    root_from_proof(&l[m], m as u64, n as u64, &path),
                    Some(tree.root()),
                    "verify, n = {n}, m = {m}"
                );
            }
        }
    }

    #[test]
    fn a_wrong_leaf_index_size_or_path_does_not_reach_the_root() {
        let l = leaves(13);
        let tree = Tree::new(l.clone()).unwrap();
        let root = tree.root();
        let path = tree.proof(5).unwrap();
        assert_ne!(root_from_proof(&l[6], 5, 13, &path), Some(root));
        assert_ne!(root_from_proof(&l[5], 4, 13, &path), Some(root));
        // A size whose proofs have another length is refused; one with the same shape
        // reaches the same root, which is why the signed message names the size.
        assert_eq!(root_from_proof(&l[5], 5, 32, &path), None);
        assert_eq!(root_from_proof(&l[5], 5, 6, &path), None);
        assert_eq!(root_from_proof(&l[5], 13, 13, &path), None);
        assert_eq!(root_from_proof(&l[5], 5, 13, &path[..path.len() - 1]), None);
        let mut longer = path.clone();
        longer.push(root);
        assert_eq!(root_from_proof(&l[5], 5, 13, &longer), None);
        let mut flipped = path;
        flipped[1][7] ^= 0x20;
        assert_ne!(root_from_proof(&l[5], 5, 13, &flipped), Some(root));
        assert_eq!(Tree::new(Vec::new()).map(|t| t.root()), None);
    }

    #[test]
    fn a_leaf_cannot_pose_as_a_node() {
        // The 0x00/0x01 prefixes: a two-leaf tree's root is not the leaf hash of its
        // children's concatenation.
        let l = leaves(2);
        let root = Tree::new(l.clone()).unwrap().root();
        assert_ne!(root, leaf_hash(&[&l[0], &l[1]]));
    }
}
