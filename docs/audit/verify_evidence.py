#!/usr/bin/env python3
"""Check a Liaison evidence file without Liaison.

    python3 verify_evidence.py EVIDENCE.jsonl IDENTITY_BUNDLE

Needs only the Python standard library and the `openssl` command (3.0 or later, for
Ed25519). Implements docs/AUDIT.md independently of the Rust code: the identity's root
signature, the checkpoint signatures, the hash chain, the bodies. Prints the root
fingerprint (compare it with the one the agency gave you) and exits 1 on the first
problem.
"""

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile

IDENTITY = b"liaison/v1/identity\0"
CHECKPOINT = b"liaison/v1/checkpoint\0"
LOG_ENTRY = b"liaison/v1/log-entry\0"
KEY_ID = b"liaison/v1/key-id\0"
KINDS = [None, "published", "received", "receipt", "policy-decision", "peer-change",
         "key-change", "node-event", "acknowledged", "client-change", "recall", "onward"]


def fail(message):
    print(f"DOES NOT VERIFY: {message}", file=sys.stderr)
    sys.exit(1)


def fields(data):
    """Protobuf wire format: {field number: [values]} (varints as int, bytes as bytes)."""
    out, i = {}, 0

    def varint():
        nonlocal i
        value, shift = 0, 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = varint()
        elif wire == 2:
            length = varint()
            value, i = data[i : i + length], i + length
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def one(message, number, default=b""):
    return message.get(number, [default])[0]


def ed25519_verify(public_key, message, signature):
    """Ed25519 with the openssl command: the key as SubjectPublicKeyInfo DER."""
    spki = bytes.fromhex("302a300506032b6570032100") + public_key
    with tempfile.TemporaryDirectory() as d:
        paths = {n: os.path.join(d, n) for n in ("key.der", "msg", "sig")}
        for name, content in zip(paths, (spki, message, signature)):
            with open(paths[name], "wb") as f:
                f.write(content)
        result = subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
             "-inkey", paths["key.der"], "-rawin", "-in", paths["msg"],
             "-sigfile", paths["sig"]],
            capture_output=True,
        )
        return result.returncode == 0


def key_id(kind, public_key):
    """Key ids: kind, dash, hex of the first 8 bytes of SHA-256(label || kind || key)."""
    digest = hashlib.sha256(KEY_ID + kind.encode() + public_key).digest()
    return kind + "-" + digest[:8].hex()


def load_identity(path):
    bundle = fields(open(path, "rb").read())
    root, document, signature = one(bundle, 1), one(bundle, 2), one(bundle, 3)
    if not ed25519_verify(root, IDENTITY + document, signature):
        fail("the identity bundle's root signature does not verify")
    doc = fields(document)
    agency = one(doc, 1).decode()
    revoked = {one(fields(r), 1).decode() for r in doc.get(11, [])}
    keys = [one(fields(one(doc, 8)), 3)]  # current signing key
    keys += [one(fields(one(fields(r), 1)), 3) for r in doc.get(12, [])]  # retired
    keys = {key_id("s", k): k for k in keys if key_id("s", k) not in revoked}
    digest = hashlib.sha256(root).digest()
    text = base64.b32encode(digest).decode().rstrip("=")
    fingerprint = "-".join(text[i : i + 4] for i in range(0, len(text), 4))
    return agency, keys, fingerprint


def main(evidence_path, identity_path):
    agency, keys, fingerprint = load_identity(identity_path)
    print(f"identity of {agency}, root fingerprint {fingerprint}")
    lines = [json.loads(l) for l in open(evidence_path) if l.strip()]
    if not lines or lines[0].get("type") != "header" or lines[0].get("agency") != agency:
        fail("the first line must be the header of this agency's log")
    signed = {}
    for line in (l for l in lines if l["type"] == "checkpoint"):
        outer = fields(base64.b64decode(line["signed"]))
        body, signature = one(outer, 1), one(outer, 2)
        checkpoint = fields(body)
        key = keys.get(one(checkpoint, 5).decode())
        if one(checkpoint, 1).decode() != agency or key is None:
            continue  # another agency's, or a key this identity does not vouch for
        if not ed25519_verify(key, CHECKPOINT + body, signature):
            fail(f"the checkpoint of entry {one(checkpoint, 2, 0)} has a bad signature")
        signed[one(checkpoint, 2, 0)] = one(checkpoint, 3)
    previous, covered, count = None, 0, 0
    for line in (l for l in lines if l["type"] == "entry"):
        record = base64.b64decode(line["record"])
        r = fields(record)
        seq, entry_hash = one(r, 1, 0), hashlib.sha256(LOG_ENTRY + record).digest()
        if seq != line["seq"]:
            fail(f"line says entry {line['seq']}, its record says {seq}")
        if previous is not None and (seq != previous[0] + 1 or one(r, 2) != previous[1]):
            fail(f"entry {seq} does not follow entry {previous[0]}")
        if previous is None and seq == 1 and one(r, 2) != bytes(32):
            fail("entry 1 must follow 32 zero bytes")
        if "body_base64" in line:
            body = base64.b64decode(line["body_base64"])
            if hashlib.sha256(body).digest() != one(r, 7) or len(body) != one(r, 8, 0):
                fail(f"the body of entry {seq} does not match its record")
        if line["hash"] != entry_hash.hex():
            fail(f"entry {seq}: the hash shown is not the record's")
        kind = one(r, 4, 0)
        if line["kind"] != (KINDS[kind] if kind < len(KINDS) else None):
            fail(f"entry {seq}: the kind shown is not the record's")
        millis = one(r, 3, 0)
        shown = datetime.datetime.fromtimestamp(millis / 1000, datetime.timezone.utc)
        if line["time"] != shown.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z":
            fail(f"entry {seq}: the time shown is not the record's")
        if (line.get("agency") or "") != one(r, 6).decode():
            fail(f"entry {seq}: the partner shown is not the record's")
        if seq in signed:
            if signed[seq] != entry_hash:
                fail(f"{agency} signed another hash for entry {seq}")
            covered = seq
        previous, count = (seq, entry_hash), count + 1
    if covered == 0:
        fail(f"no checkpoint signed by {agency} names an entry of this export")
    print(f"OK: {count} entries chain to entry {previous[0]}; signed by {agency} up to entry {covered}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
