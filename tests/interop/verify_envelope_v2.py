#!/usr/bin/env python3
"""Checks the format-v2 test vector from outside Liaison: Python's standard library and
the `openssl` command only, following docs/ENVELOPE.md and nothing else.

For each envelope of crates/liaison-core/tests/vectors/envelope-v2.json it computes the
Merkle leaf from the header, wraps and ciphertext, walks the inclusion proof (RFC 9162
section 2.1.3.2) to the root, requires the root the vector states, and verifies the
batch signature with the origin's public key. It also requires that a tampered proof
or a flipped ciphertext bit does not reach the root. Prints one line per envelope and
exits 1 on the first failure.

Usage: verify_envelope_v2.py [VECTOR.json]
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

LEAF = b"liaison/v2/envelope\0"
BATCH = b"liaison/v2/envelope-batch\0"
FORMAT_VERSION, SCHEME = 3, 2


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def leaf_hash(header, wraps, ciphertext):
    signed_parts = (struct.pack(">II", FORMAT_VERSION, SCHEME)
                    + struct.pack(">I", len(header)) + header
                    + struct.pack(">I", len(wraps)) + wraps
                    + sha256(ciphertext))
    return sha256(b"\x00", LEAF, signed_parts)


def root_from_proof(leaf, index, size, path):
    """RFC 9162 section 2.1.3.2; None if the proof does not fit the tree."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = sha256(b"\x01", p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def ed25519_verify(public_key, message, signature):
    spki = bytes.fromhex("302a300506032b6570032100") + public_key
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, n) for n in ("key.der", "msg", "sig")]
        for path, content in zip(paths, (spki, message, signature)):
            with open(path, "wb") as f:
                f.write(content)
        result = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
             "-inkey", paths[0], "-rawin", "-in", paths[1], "-sigfile", paths[2]],
            capture_output=True)
        return result.returncode == 0


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    default = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "liaison-core",
                           "tests", "vectors", "envelope-v2.json")
    vector = json.load(open(sys.argv[1] if len(sys.argv) > 1 else default))
    public_key = bytes.fromhex(vector["origin"]["signing_public_key"])
    root = bytes.fromhex(vector["root"])
    size = vector["tree_size"]
    signature = bytes.fromhex(vector["signature"])
    message = struct.pack(">IIQ", FORMAT_VERSION, SCHEME, size) + root
    if not ed25519_verify(public_key, BATCH + message, signature):
        fail("the batch signature does not verify over the documented message")
    for e in vector["envelopes"]:
        header, wraps, ciphertext = (bytes.fromhex(e[k]) for k in ("header", "wraps", "ciphertext"))
        path = [bytes.fromhex(p) for p in e["path"]]
        envelope = bytes.fromhex(e["envelope"])
        for part in (header, wraps, ciphertext, signature, root):
            if part not in envelope:
                fail(f"{e['bulletin_id']}: a part is not in the envelope's bytes")
        leaf = leaf_hash(header, wraps, ciphertext)
        if root_from_proof(leaf, e["leaf_index"], size, path) != root:
            fail(f"{e['bulletin_id']}: the inclusion proof does not reach the signed root")
        flipped = bytearray(ciphertext)
        flipped[0] ^= 1
        if root_from_proof(leaf_hash(header, wraps, bytes(flipped)), e["leaf_index"], size, path) == root:
            fail(f"{e['bulletin_id']}: a flipped ciphertext bit still reaches the root")
        if path and root_from_proof(leaf, e["leaf_index"], size, path[:-1]) is not None:
            fail(f"{e['bulletin_id']}: a shortened proof was accepted")
        print(f"ok {e['bulletin_id']}: leaf {e['leaf_index']} of {size} reaches the signed root")


if __name__ == "__main__":
    main()
