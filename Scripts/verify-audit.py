#!/usr/bin/env python3
"""Verify TrustMesh audit exports independently of the Swift code (docs/AUDIT-FORMAT.md).

usage: verify-audit.py FILE... --topology TOPOLOGY.json
Needs only the standard library and the `cryptography` package (Ed25519).
Exit status 0 if every file verifies, 1 if any fails, 2 on a usage error.
"""
import base64, collections, hashlib, json, re, struct, sys
from datetime import datetime
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO = bytes(32)
CHECKPOINT_KEYS = {"trust", "sequence", "headHash", "time", "signature"}
REQUIRED = {"entry": {"trust", "sequence", "time", "kind", "actor", "previousHash", "hash", "signature"},
            "checkpoint": CHECKPOINT_KEYS | {"heldBy"}}
TIME = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")


def u32(n): return struct.pack(">I", n)
def string(s): b = s.encode("utf-8"); return u32(len(b)) + b
def raw(b): return u32(len(b)) + b
def strings(xs): return u32(len(xs)) + b"".join(string(x) for x in xs)
def optional(v, form): return b"\x00" if v is None else b"\x01" + form(v)


def entry_message(e):
    pairs = sorted(e.get("subject", {}).items(), key=lambda kv: kv[0].encode("utf-8"))
    return (b"TrustMesh/AuditEntry/v1\x00" + string(e["trust"]) + struct.pack(">Q", e["sequence"])
            + string(e["time"]) + string(e["kind"]) + string(e["actor"])
            + strings([x for kv in pairs for x in kv]) + optional(e.get("details"), string)
            + raw(bytes.fromhex(e["previousHash"])))


def checkpoint_message(c):
    return (b"TrustMesh/AuditCheckpoint/v1\x00" + string(c["trust"]) + struct.pack(">Q", c["sequence"])
            + raw(bytes.fromhex(c["headHash"])) + string(c["time"]))


def key(b64):
    b = base64.b64decode(b64, validate=True)
    if len(b) != 32: raise ValueError("not a 32-byte key")
    return Ed25519PublicKey.from_public_bytes(b)


def signed(k, signature, message):
    try:
        k.verify(base64.b64decode(signature, validate=True), message)
        return True
    except (InvalidSignature, ValueError):
        return False


def valid_time(t):
    try:
        return bool(TIME.match(t)) and datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").year >= 1
    except ValueError:
        return False


class Failure(Exception):
    pass


def read(path):
    entries, held = [], []
    with open(path, "rb") as f:
        for number, line in enumerate(f.read().split(b"\n"), 1):
            if not line.strip(): continue
            try:
                obj = json.loads(line.decode("utf-8"))
                if not REQUIRED[obj["type"]] <= obj.keys(): raise KeyError("missing field")
                {"entry": entries, "checkpoint": held}[obj["type"]].append(obj)
            except (ValueError, KeyError, TypeError):
                raise Failure(f"line {number}: malformed: not an entry or a checkpoint")
    return entries, held


def signing_keys(entries, trust, pinned):
    """The key each entry must verify with: walking back from the end, a keyChanged entry that verifies
    with the key in force hands over to the previous key named in its details."""
    keys, k = [pinned] * len(entries), pinned
    for i in reversed(range(len(entries))):
        e = entries[i]
        keys[i] = k
        if e["trust"] == trust and e["kind"] == "keyChanged" and e.get("details"):
            m = entry_message(e)
            if hashlib.blake2b(m, digest_size=32).hexdigest() == e["hash"].lower() and signed(k, e["signature"], m):
                try: k = key(e["details"])
                except ValueError: pass
    return keys


def verify_chain(entries, trust, pinned):
    """Raises Failure for the first problem, in the order the Swift verifier checks."""
    keys = signing_keys(entries, trust, pinned)
    present = {e["sequence"] for e in entries if e["trust"] == trust}
    seen, previous, expected = set(), None, 1
    for e, k in zip(entries, keys):
        s, where = e["sequence"], f"{trust} #{e['sequence']}"
        if e["trust"] != trust: raise Failure(f"{where}: wrong trust: this entry belongs to {e['trust']}'s log")
        if s in seen: raise Failure(f"{where}: duplicate: the entry appears more than once")
        seen.add(s)
        if s != expected:
            if s > expected and expected not in present:
                raise Failure(f"{where}: sequence gap: expected #{expected}, found #{s}")
            raise Failure(f"{where}: out of order: found where #{expected} belongs")
        m = entry_message(e)
        if hashlib.blake2b(m, digest_size=32).hexdigest() != e["hash"].lower():
            raise Failure(f"{where}: bad hash: the entry's fields do not hash to the hash it records")
        if not signed(k, e["signature"], m): raise Failure(f"{where}: bad signature: not signed by {trust}'s key")
        link = ZERO if s == 1 else bytes.fromhex(previous["hash"])
        if bytes.fromhex(e["previousHash"]) != link:
            raise Failure(f"{where}: broken link: previousHash is not the hash of the entry before it")
        if not valid_time(e["time"]): raise Failure(f"{where}: malformed time")
        if e["kind"] == "keyChanged":
            try: key(e.get("details") or "")
            except ValueError: raise Failure(f"{where}: bad key change")
        previous, expected = e, s + 1
    return keys


def check_checkpoint(c, held_by, entries, keys, pinned):
    trust, s = c["trust"], c["sequence"]
    where = f"{trust} #{s}"
    candidates = ([keys[s - 1]] if 1 <= s <= len(entries) else keys[-1:]) + [pinned]
    if s < 1 or not any(signed(k, c["signature"], checkpoint_message(c)) for k in candidates):
        raise Failure(f"{where}: bad checkpoint: the checkpoint held by {held_by} is not signed by {trust}'s key")
    if s > len(entries):
        raise Failure(f"{where}: truncated: the log ends at #{len(entries)}, "
                      f"but {trust} signed a checkpoint at #{s} held by {held_by}")
    if entries[s - 1]["hash"].lower() != c["headHash"].lower():
        raise Failure(f"{where}: rewritten: the entry's hash differs from {trust}'s checkpoint held by {held_by}")


def main(argv):
    if "--topology" not in argv or argv.index("--topology") + 1 >= len(argv):
        print(__doc__, file=sys.stderr)
        return 2
    i = argv.index("--topology")
    files = argv[:i] + argv[i + 2:]
    with open(argv[i + 1]) as f:
        pinned = {t["ods"]: key(t["signingKey"]) for t in json.load(f)["trusts"] if t.get("signingKey")}
    logs, failures, checkpoints = {}, {}, []
    for path in files:
        try:
            entries, held = read(path)
            checkpoints += held
            if not entries: continue
            counts = collections.Counter(e["trust"] for e in entries)
            trust = min(counts, key=lambda t: (-counts[t], t))
            if trust not in pinned: raise Failure(f"{trust}: unknown trust: the topology pins no key for it")
            keys = verify_chain(entries, trust, pinned[trust])
            logs[path] = (trust, entries, keys)
            for e in entries:  # checkpoints recorded in the log itself (kind checkpoint, details its JSON)
                try: c = json.loads(e["details"]) if e["kind"] == "checkpoint" and e.get("details") else None
                except ValueError: c = None
                if isinstance(c, dict) and CHECKPOINT_KEYS <= c.keys(): checkpoints.append(dict(c, heldBy=trust))
        except Failure as failure:
            failures[path] = str(failure)
    reference = {}
    for path, (trust, entries, _) in logs.items():
        if trust not in reference or len(logs[reference[trust]][1]) < len(entries): reference[trust] = path
    for path, (trust, entries, _) in logs.items():
        longer = logs[reference[trust]][1]
        for a, b in zip(entries, longer):
            if a["hash"].lower() != b["hash"].lower():
                message = f"{trust} #{a['sequence']}: conflicting copies: two copies of the log differ here"
                failures.setdefault(path, message)
                failures.setdefault(reference[trust], message)
                break
    unique = {json.dumps({k: c[k] for k in CHECKPOINT_KEYS}, sort_keys=True): c for c in reversed(checkpoints)}
    for c in sorted(unique.values(), key=lambda c: (c["sequence"], c["trust"], c["heldBy"])):
        path = reference.get(c["trust"])
        if path is None: continue
        trust, entries, keys = logs[path]
        try: check_checkpoint(c, c["heldBy"], entries, keys, pinned[trust])
        except Failure as failure: failures.setdefault(path, str(failure))
    for path in files:
        if path in failures: print(f"FAILED  {path}: {failures[path]}")
        elif path in logs: print(f"OK      {path}: {logs[path][0]}, {len(logs[path][1])} entries")
        else: print(f"OK      {path}: no entries")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
