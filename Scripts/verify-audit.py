#!/usr/bin/env python3
"""Verify TrustMesh audit exports independently of the Swift code (docs/AUDIT-FORMAT.md, version 2).

usage: verify-audit.py FILE... --topology TOPOLOGY.json
       verify-audit.py FILE... --network NETWORK.json [--topology TOPOLOGY.json]   (keys over time, §9)
       verify-audit.py --proof PROOF.json --topology TOPOLOGY.json   (an inclusion proof, §4.3)
Needs only the standard library and the `cryptography` package (Ed25519).
Exit status 0 if every file verifies, 1 if any fails, 2 on a usage error.
"""
import base64, binascii, calendar, collections, hashlib, json, re, struct, sys
from datetime import datetime
from time import gmtime, strftime
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO = bytes(32)
MAX_LINE, MAX_DEPTH = 1 << 20, 8
ENTRY_KEYS = {"type", "trust", "sequence", "time", "kind", "actor", "subject", "details", "previousHash", "hash",
              "signature"}
TREE_HEAD_KEYS = {"trust", "treeSize", "rootHash", "time", "signature"}
CHECKPOINT_KEYS = {"trust", "sequence", "headHash", "time", "signature"}
SECTIONS = {"entry": 0, "treeHead": 1, "checkpoint": 2}
TIME = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
ODS = re.compile(r"\A[A-Z0-9]{3,6}\Z")
HEX = re.compile(r"\A[0-9a-f]{64}\Z")
SUBJECT_KEY = re.compile(r"\A[A-Za-z0-9]{1,64}\Z")
UINT = re.compile(r"\A(0|[1-9][0-9]*)\Z")


class Failure(Exception):
    pass


class Malformed(ValueError):
    pass


# --- §2: one strict reading of every line -------------------------------------------------------

def _pairs(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen: raise Malformed(f"duplicate key {k!r}")
        seen.add(k)
    return dict(pairs)


def _int(text):
    if not (text.isascii() and UINT.match(text) and int(text) < 1 << 64):
        raise Malformed("a number that is not 0 or [1-9][0-9]* within UInt64")
    return int(text)


def _number(text):
    raise Malformed("a number with a sign, fraction or exponent")


def _walk(v, depth):
    """Depth (objects and arrays, the line's object is 1) and no lone surrogates in any string."""
    if isinstance(v, (dict, list)) and depth > MAX_DEPTH: raise Malformed(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(v, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in v): raise Malformed("a lone surrogate in a \\u escape")
    elif isinstance(v, dict):
        for k, x in v.items(): _walk(k, depth); _walk(x, depth + 1)
    elif isinstance(v, list):
        for x in v: _walk(x, depth + 1)


def strict_object(raw):
    """One line (bytes, no LF; a proof file may hold LF) as a dict, or Malformed: RFC 8259 exactly, no
    duplicate keys."""
    if len(raw) > MAX_LINE: raise Malformed(f"longer than {MAX_LINE} bytes")
    if b"\r" in raw: raise Malformed("a carriage return (lines end in LF alone)")
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_pairs, parse_int=_int, parse_float=_number, parse_constant=_number)
    except UnicodeDecodeError:
        raise Malformed("not valid UTF-8")
    except RecursionError:
        raise Malformed(f"nested deeper than {MAX_DEPTH} levels")
    except ValueError as e:  # json.JSONDecodeError, Malformed
        raise Malformed(f"not strict JSON: {e}")
    if not isinstance(obj, dict): raise Malformed("not a JSON object")
    _walk(obj, 1)
    return obj


def _string(o, k):
    if k not in o: raise Malformed(f"missing {k!r}")
    if type(o[k]) is not str: raise Malformed(f"{k!r} must be a string")
    return o[k]


def _uint(o, k):
    if k not in o: raise Malformed(f"missing {k!r}")
    if type(o[k]) is not int: raise Malformed(f"{k!r} must be a number")
    return o[k]


def _hex(o, k):
    if not HEX.match(_string(o, k)): raise Malformed(f"{k!r} must be 64 lower-case hex digits")
    return o[k]


def _ods(o, k):
    if not ODS.match(_string(o, k)): raise Malformed(f"{k!r} must be 3 to 6 upper-case letters and digits")
    return o[k]


def _signature(o, k):
    s = _string(o, k)
    try:
        ok = len(s) == 88 and base64.b64encode(base64.b64decode(s, validate=True)).decode() == s
    except (ValueError, binascii.Error):
        ok = False
    if not ok: raise Malformed(f"{k!r} must be padded standard base64 of 64 bytes")
    return s


def _only(o, allowed):
    for k in sorted(o):
        if k not in allowed: raise Malformed(f"unknown key {k!r}")


def entry_fields(o, allowed=ENTRY_KEYS):
    _only(o, allowed)
    for k in ("time", "kind", "actor") + (("type",) if "type" in allowed else ()): _string(o, k)
    _ods(o, "trust"); _uint(o, "sequence"); _hex(o, "previousHash"); _hex(o, "hash"); _signature(o, "signature")
    if "subject" not in o: raise Malformed("missing 'subject'")
    if not isinstance(o["subject"], dict): raise Malformed("'subject' must be an object")
    for k, v in o["subject"].items():
        if not SUBJECT_KEY.match(k): raise Malformed("a subject key must be 1 to 64 ASCII letters and digits")
        if type(v) is not str: raise Malformed("subject values must be strings")
    if "details" in o: _string(o, "details")
    return o


def tree_head_fields(o, allowed):
    _only(o, allowed)
    _ods(o, "trust"); _uint(o, "treeSize"); _hex(o, "rootHash"); _string(o, "time"); _signature(o, "signature")
    return o


def checkpoint_fields(o, allowed):
    _only(o, allowed)
    _ods(o, "trust"); _uint(o, "sequence"); _hex(o, "headHash"); _string(o, "time"); _signature(o, "signature")
    return o


def read_bytes(data):
    """An export's entries, tree heads and checkpoints, or Failure naming the first malformed line."""
    entries, heads, held, section, last_head = [], [], [], 0, None
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            if number == 1 and line.startswith(b"\xef\xbb\xbf"): raise Malformed("a byte order mark")
            if not line.strip(b" \t"): continue
            o = strict_object(line)
            t = _string(o, "type")
            if t not in SECTIONS: raise Malformed("unknown type")
            if SECTIONS[t] < section: raise Malformed("lines out of order: entries, then tree heads, then checkpoints")
            section = SECTIONS[t]
            if t == "entry":
                entries.append(entry_fields(o))
            elif t == "treeHead":
                h = tree_head_fields(o, TREE_HEAD_KEYS | {"type", "heldBy"}); _ods(o, "heldBy")
                if last_head is not None and (h["trust"], h["treeSize"]) < last_head:
                    raise Malformed("tree heads must be ordered by trust, then tree size")
                last_head = (h["trust"], h["treeSize"])
                heads.append(h)
            else:
                held.append(checkpoint_fields(o, CHECKPOINT_KEYS | {"type", "heldBy"})); _ods(o, "heldBy")
        except Malformed as e:
            raise Failure(f"line {number}: malformed: {e}")
    return entries, heads, held


def read(path):
    with open(path, "rb") as f:
        return read_bytes(f.read())


def read_inclusion_proof(data):
    """An inclusion proof file (§4.3): one strict JSON object, LF allowed between tokens."""
    if data.startswith(b"\xef\xbb\xbf"): raise Malformed("a byte order mark")
    o = strict_object(data)
    _only(o, {"type", "entry", "treeHead", "path"})
    if _string(o, "type") != "inclusionProof": raise Malformed("not an inclusion proof")
    for k in ("entry", "treeHead"):
        if not isinstance(o.get(k), dict): raise Malformed(f"{k!r} must be an object")
    entry_fields(o["entry"], ENTRY_KEYS - {"type"})
    tree_head_fields(o["treeHead"], TREE_HEAD_KEYS)
    if not isinstance(o.get("path"), list) or not all(type(p) is str and HEX.match(p) for p in o["path"]):
        raise Malformed("'path' must be an array of 64 lower-case hex digits each")
    return o


def recorded_checkpoint(details):
    """The checkpoint a version 1 `checkpoint` entry records in its details, read as strictly as a line."""
    try:
        raw = details.encode("utf-8")
        if b"\n" in raw: return None
        return checkpoint_fields(strict_object(raw), CHECKPOINT_KEYS)
    except (Malformed, UnicodeEncodeError):
        return None


# --- §3: canonical messages ---------------------------------------------------------------------

def u32(n): return struct.pack(">I", n)
def string(s): b = s.encode("utf-8"); return u32(len(b)) + b
def raw(b): return u32(len(b)) + b
def strings(xs): return u32(len(xs)) + b"".join(string(x) for x in xs)
def optional(v, form): return b"\x00" if v is None else b"\x01" + form(v)


def entry_message(e):
    pairs = sorted(e["subject"].items(), key=lambda kv: kv[0].encode("utf-8"))
    return (b"TrustMesh/AuditEntry/v1\x00" + string(e["trust"]) + struct.pack(">Q", e["sequence"])
            + string(e["time"]) + string(e["kind"]) + string(e["actor"])
            + strings([x for kv in pairs for x in kv]) + optional(e.get("details"), string)
            + raw(bytes.fromhex(e["previousHash"])))


def checkpoint_message(c):
    return (b"TrustMesh/AuditCheckpoint/v1\x00" + string(c["trust"]) + struct.pack(">Q", c["sequence"])
            + raw(bytes.fromhex(c["headHash"])) + string(c["time"]))


def tree_head_message(h):
    return (b"TrustMesh/TreeHead/v1\x00" + string(h["trust"]) + struct.pack(">Q", h["treeSize"])
            + raw(bytes.fromhex(h["rootHash"])) + string(h["time"]))


# --- §4: the Merkle tree (RFC 9162 with BLAKE2b-256) --------------------------------------------

def blake(b): return hashlib.blake2b(b, digest_size=32).digest()
def leaf_hash(m): return blake(b"\x00" + m)
def node_hash(left, right): return blake(b"\x01" + left + right)
def split(n): return 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n (n >= 2)


class Tree:
    """Every complete, aligned subtree's hash, so that any prefix's root costs O(log n)."""
    def __init__(self, leaves):
        self.levels = [list(leaves)]
        while len(self.levels[-1]) > 1:
            low = self.levels[-1]
            self.levels.append([node_hash(low[i], low[i + 1]) for i in range(0, len(low) - 1, 2)])

    def hash(self, start, end):
        n = end - start
        if n == 0: return blake(b"")
        if n & (n - 1) == 0 and start % n == 0: return self.levels[n.bit_length() - 1][start // n]
        k = split(n)
        return node_hash(self.hash(start, start + k), self.hash(start + k, end))

    def root(self, size): return self.hash(0, size)

    def inclusion_proof(self, index, size, start=0):
        n = size - start
        if n <= 1: return []
        k = split(n)
        if index < start + k: return self.inclusion_proof(index, start + k, start) + [self.hash(start + k, size)]
        return self.inclusion_proof(index, size, start + k) + [self.hash(start, start + k)]

    def consistency_proof(self, old, new):
        def sub(m, start, end, complete):
            n = end - start
            if m == n: return [] if complete else [self.hash(start, end)]
            k = split(n)
            if m <= k: return sub(m, start, start + k, complete) + [self.hash(start + k, end)]
            return sub(m - k, start + k, end, False) + [self.hash(start, start + k)]
        return [] if old == 0 or old == new else sub(old, 0, new, True)


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size: return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old, new, old_root, new_root, path):
    """RFC 9162 §2.1.4.2; equal sizes need an empty path and equal roots, size 0 the empty root."""
    if old > new: return False
    if old == new: return not path and old_root == new_root
    if old == 0: return not path and old_root == blake(b"")
    if not path: return False
    path = ([old_root] if old & (old - 1) == 0 else []) + list(path)
    fn, sn = old - 1, new - 1
    while fn & 1: fn >>= 1; sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1; sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


# --- §6: verification ---------------------------------------------------------------------------

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


def signing_keys(entries, trust, pinned):
    """The key each entry must verify with: walking back from the end, a keyChanged entry that verifies
    with the key in force hands over to the previous key named in its details."""
    keys, k = [pinned] * len(entries), pinned
    for i in reversed(range(len(entries))):
        e = entries[i]
        keys[i] = k
        if e["trust"] == trust and e["kind"] == "keyChanged" and e.get("details"):
            m = entry_message(e)
            if blake(m).hex() == e["hash"] and signed(k, e["signature"], m):
                try: k = key(e["details"])
                except ValueError: pass
    return keys


def verify_chain(entries, trust, pinned, network=None):
    """Raises Failure for the first problem, in the order the Swift verifier checks. With a network
    (§9), each entry is checked with the keys of its trust valid at its time, not the pinned key."""
    keys = signing_keys(entries, trust, pinned) if network is None else [None] * len(entries)
    present = {e["sequence"] for e in entries if e["trust"] == trust}
    seen, previous, expected = set(), None, 1
    for i, (e, k) in enumerate(zip(entries, keys)):
        s, where = e["sequence"], f"{trust} #{e['sequence']}"
        if e["trust"] != trust: raise Failure(f"{where}: wrong trust: this entry belongs to {e['trust']}'s log")
        if s in seen: raise Failure(f"{where}: duplicate: the entry appears more than once")
        seen.add(s)
        if s != expected:
            if s > expected and expected not in present:
                raise Failure(f"{where}: sequence gap: expected #{expected}, found #{s}")
            raise Failure(f"{where}: out of order: found where #{expected} belongs")
        m = entry_message(e)
        if blake(m).hex() != e["hash"]:
            raise Failure(f"{where}: bad hash: the entry's fields do not hash to the hash it records")
        if network is not None:
            verdict = network.judge(trust, e["time"], lambda k: signed(k, e["signature"], m))
            if verdict[0] != "signed": raise Failure(f"{where}: {network.refusal(trust, verdict, e['time'])}")
            keys[i] = k = verdict[1]
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


def candidate_keys(n, keys, pinned):
    """A checkpoint at n, or a tree head of n entries, verifies with the key of entry n (the last key
    when n is past the end) or the pinned key."""
    return ([keys[n - 1]] if 1 <= n <= len(keys) else keys[-1:]) + [pinned]


def head_signer(h, message, n, keys, pinned, network):
    """`None` if the tree head or checkpoint is signed by a key valid for it (§6.2; §9.5 with a
    network), else why not (the key's revocation or period, or an empty string)."""
    if network is None:
        return None if any(signed(k, h["signature"], message) for k in candidate_keys(n, keys, pinned)) else ""
    verdict = network.judge(h["trust"], h["time"], lambda k: signed(k, h["signature"], message))
    return None if verdict[0] == "signed" else network.why(verdict, h["time"])


def check_checkpoint(c, entries, keys, pinned, network=None):
    trust, s, by = c["trust"], c["sequence"], c["heldBy"]
    where = f"{trust} #{s}"
    why = head_signer(c, checkpoint_message(c), s, keys, pinned, network)
    if s < 1 or why is not None:
        raise Failure(f"{where}: bad checkpoint: the checkpoint held by {by} is not signed by {trust}'s key{why or ''}")
    if s > len(entries):
        raise Failure(f"{where}: truncated: the log ends at #{len(entries)}, "
                      f"but {trust} signed a checkpoint at #{s} held by {by}")
    if entries[s - 1]["hash"] != c["headHash"]:
        raise Failure(f"{where}: rewritten: the entry's hash differs from {trust}'s checkpoint held by {by}")


def check_tree_head(h, entries, keys, pinned, tree, network=None):
    trust, n, by = h["trust"], h["treeSize"], h["heldBy"]
    where = f"{trust} #{n}"
    why = head_signer(h, tree_head_message(h), n, keys, pinned, network)
    if n < 1 or not valid_time(h["time"]) or why is not None:
        raise Failure(f"{where}: bad tree head: the tree head held by {by} is not signed by {trust}'s key, "
                      f"or is malformed{why or ''}")
    if n > len(entries):
        raise Failure(f"{where}: truncated: the log ends at #{len(entries)}, "
                      f"but {trust} signed a tree head of {n} entries held by {by}")
    if tree.root(n).hex() != h["rootHash"]:
        raise Failure(f"{where}: rewritten: the tree of the first {n} entries differs from {trust}'s "
                      f"tree head held by {by}")


def pinned_note(checked, trust):
    """How far a verified log is pinned, and by whom: only other trusts' copies count (the log's
    own key holder could sign new heads)."""
    checked = [c for c in checked if c[2] != trust]
    if not checked: return "not pinned by any other trust's tree head"
    n = max(size for size, _, _ in checked)
    what = "tree head" if (n, "tree head") in {(size, w) for size, w, _ in checked} else "checkpoint"
    by = ", ".join(sorted({b for size, w, b in checked if size == n and w == what}))
    return f"pinned up to entry {n} by a {what} held by {by}"


def check_inclusion_proof(p, pinned):
    """Raises Failure naming the first check of §4.3 that fails."""
    e, h = p["entry"], p["treeHead"]
    m = entry_message(e)
    if blake(m).hex() != e["hash"]: raise Failure("bad hash: the entry's fields do not hash to the hash it records")
    if not signed(pinned, e["signature"], m): raise Failure(f"bad signature: the entry is not signed by {e['trust']}'s key")
    if h["trust"] != e["trust"] or not signed(pinned, h["signature"], tree_head_message(h)):
        raise Failure(f"bad tree head: the tree head is not signed by {e['trust']}'s key")
    if not 1 <= e["sequence"] <= h["treeSize"]:
        raise Failure(f"not covered: entry #{e['sequence']} is not in a tree of {h['treeSize']} entries")
    path = [bytes.fromhex(x) for x in p["path"]]
    if not verify_inclusion(leaf_hash(m), e["sequence"] - 1, h["treeSize"], path, bytes.fromhex(h["rootHash"])):
        raise Failure(f"bad path: the path does not lead from entry #{e['sequence']} to the tree head's root")


def proof_verdict(data, pinned_keys):
    """`OK …` or the failure of an inclusion proof file, checked with its trust's pinned key."""
    try:
        p = read_inclusion_proof(data)
    except Malformed as e:
        raise Failure(f"malformed: {e}")
    trust = p["entry"]["trust"]
    if trust not in pinned_keys: raise Failure(f"unknown trust: the topology pins no key for {trust}")
    check_inclusion_proof(p, pinned_keys[trust])
    return f"{trust} #{p['entry']['sequence']} is in the tree of {p['treeHead']['treeSize']} entries {trust} signed"


# --- §9: keys over time: a network file's membership, certificates and revocations -------------

OVERLAP = 600  # seconds a superseded key stays valid after its successor's notBefore


def u64(n): return struct.pack(">Q", n)
def i64(n): return struct.pack(">q", n)
def key_bytes(b64):
    b = base64.b64decode(b64, validate=True)
    if len(b) != 32: raise ValueError("not a 32-byte key")
    return b


def membership_message(m):
    members = sorted(m["members"], key=lambda x: x["ods"].encode())
    out = (b"TrustMesh/Membership/v1\x00" + string(m["network"]) + u64(m["version"]) + i64(m["threshold"])
           + i64(len(members)))
    for x in members: out += string(x["ods"]) + string(x["name"]) + string(x["address"]) + raw(key_bytes(x["root"]))
    return out + optional(m.get("policy"), string) + string(m["issuedAt"])


def certificate_message(c):
    return (b"TrustMesh/KeyCertificate/v1\x00" + string(c["trust"]) + u64(c["serial"]) + string("signing")
            + raw(key_bytes(c["signingKey"])) + string("agreement") + raw(key_bytes(c["agreementKey"]))
            + string(c["notBefore"]) + string(c["notAfter"]) + raw(key_bytes(c["root"])))


def revocation_message(r):
    return (b"TrustMesh/KeyRevocation/v1\x00" + string(r["trust"]) + raw(key_bytes(r["key"])) + string(r["reason"])
            + string(r["since"]) + string(r["issuedAt"]) + raw(key_bytes(r["signer"])))


def seconds(t):
    """Seconds since 1970 of a `YYYY-MM-DDTHH:MM:SSZ` time, or None."""
    return calendar.timegm(datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").timetuple()) if valid_time(t) else None


def signers(signed_membership, members):
    """The ODS codes of `members` whose root (as `members` lists it) signed the document."""
    message, roots = membership_message(signed_membership["membership"]), {m["ods"]: m["root"] for m in members}
    return {s["ods"] for s in signed_membership["signatures"]
            if s["ods"] in roots and signed(key(roots[s["ods"]]), s["signature"], message)}


def well_formed(m):
    codes = [x["ods"] for x in m["members"]]
    return (bool(codes) and len(set(codes)) == len(codes) and 1 <= m["threshold"] <= len(codes)
            and seconds(m["issuedAt"]) is not None)


class Network:
    """What a network file says about keys (§9.3): the membership's chain of versions from the first
    (taken on trust), the certificates signed by each member's current root, the revocations signed
    by that root or by the key itself; and which keys of a trust were valid at a moment."""

    def __init__(self, state):
        versions = sorted(state.get("memberships") or [], key=lambda s: s["membership"]["version"])
        if not versions: raise Failure("the network file holds no membership document")
        first = versions[0]
        if not well_formed(first["membership"]) or len(signers(first, first["membership"]["members"])) < \
                first["membership"]["threshold"]:
            raise Failure("the network file's first membership version is not signed by its own threshold")
        current = first["membership"]
        for s in versions[1:]:
            new = s["membership"]
            if new["version"] != current["version"] + 1 or new["network"] != current["network"] or \
                    not well_formed(new):
                continue
            roots = {x["ods"]: x["root"] for x in new["members"]}
            unchanged = [x for x in current["members"] if roots.get(x["ods"], x["root"]) == x["root"]]
            if len(signers(s, unchanged)) >= current["threshold"] and \
                    len(signers(s, new["members"])) >= new["threshold"]:
                current = new
        self.members = {x["ods"]: x for x in current["members"]}
        self.certificates = collections.defaultdict(dict)  # trust -> serial -> certificate
        for c in state.get("certificates") or []:
            member, held = self.members.get(c["trust"]), self.certificates[c["trust"]]
            start, end = seconds(c["notBefore"]), seconds(c["notAfter"])
            if c["serial"] in held or member is None or c["root"] != member["root"] or start is None or \
                    end is None or start > end or not signed(key(c["root"]), c["signature"], certificate_message(c)):
                continue
            held[c["serial"]] = c
        self.revocations = []
        for r in state.get("revocations") or []:
            member = self.members.get(r["trust"])
            if member is None: continue
            # Only a key certified to this trust: one trust's root cannot revoke another's key.
            if not any(c["signingKey"] == r["key"] for c in self.certificates[r["trust"]].values()): continue
            if r["signer"] != r["key"] and r["signer"] != member["root"]: continue
            if seconds(r["since"]) is None or seconds(r["issuedAt"]) is None or \
                    not signed(key(r["signer"]), r["signature"], revocation_message(r)):
                continue
            self.revocations.append(r)

    def certified(self, trust):
        """The trust's certificates from its current root, by serial."""
        member = self.members.get(trust)
        if member is None: return []
        return sorted((c for c in self.certificates[trust].values() if c["root"] == member["root"]),
                      key=lambda c: c["serial"])

    def decides(self, trust):
        return bool(self.certified(trust))

    def revoked(self, k, t):
        """The revocation of key `k` (base64) with the earliest since, if that is at or before `t`."""
        found = [r for r in self.revocations if key_bytes(r["key"]) == key_bytes(k)]
        first = min(found, key=lambda r: seconds(r["since"]), default=None)
        return first if first is not None and seconds(first["since"]) <= t else None

    def valid(self, trust, t):
        """The certificates of `trust` valid at `t`, newest first (§9.4)."""
        certificates, out = self.certified(trust), []
        for i, c in enumerate(certificates):
            if not seconds(c["notBefore"]) <= t <= seconds(c["notAfter"]): continue
            if i + 1 < len(certificates) and t >= seconds(certificates[i + 1]["notBefore"]) + OVERLAP: continue
            if self.revoked(c["signingKey"], t): continue
            out.append(c)
        return out[::-1]

    def judge(self, trust, time, check):
        """("signed", key), ("revoked", revocation, certificate), ("notValid", certificate, successor),
        ("unsigned",) or ("undated",): which key valid at `time` passes `check`, or why none does."""
        t = seconds(time)
        if t is None: return ("undated",)
        for c in self.valid(trust, t):
            if check(key(c["signingKey"])): return ("signed", key(c["signingKey"]))
        certificates = self.certified(trust)
        for i, c in enumerate(certificates):
            if check(key(c["signingKey"])):
                r = self.revoked(c["signingKey"], t)
                if r: return ("revoked", r, c)
                return ("notValid", c, certificates[i + 1] if i + 1 < len(certificates) else None)
        return ("unsigned",)

    def why(self, verdict, time):
        """The key's revocation or period, for a refused tree head or checkpoint."""
        if verdict[0] == "revoked":
            r, c = verdict[1], verdict[2]
            by = "the key itself" if r["signer"] == r["key"] else f"{r['trust']}'s root"
            return (f" (signed by {r['trust']}'s key {r['key'][:12]}… (certificate #{c['serial']}), revoked as "
                    f"{r['reason']} since {r['since']} by {by} (revocation issued {r['issuedAt']}))")
        if verdict[0] == "notValid":
            c, n = verdict[1], verdict[2]
            period = f"certificate #{c['serial']}, valid {c['notBefore']} to {c['notAfter']}"
            if n is not None:
                until = strftime("%Y-%m-%dT%H:%M:%SZ", gmtime(seconds(n["notBefore"]) + OVERLAP))
                period += f"; superseded by #{n['serial']}, accepted until {until}"
            return f" (signed by {c['trust']}'s key {c['signingKey'][:12]}… ({period}), not valid at {time})"
        return ""

    def refusal(self, trust, verdict, time):
        """An entry's failure (§9.5): `revoked key`, `key not valid`, `bad signature` or `malformed time`."""
        if verdict[0] == "undated": return "malformed time"
        if verdict[0] == "revoked": return "revoked key: " + self.why(verdict, time)[2:-1] + \
            ": what it signed from then on is not believed"
        if verdict[0] == "notValid": return "key not valid: " + self.why(verdict, time)[2:-1]
        return f"bad signature: not signed by a key of {trust}'s valid at {time}"


def option(argv, name):
    """The value of `name FILE` in argv (None if absent), and argv without it; ValueError if misused."""
    if name not in argv: return None, argv
    i = argv.index(name)
    if i + 1 >= len(argv) or argv[i + 1].startswith("--") or name in argv[i + 1:]: raise ValueError(name)
    return argv[i + 1], argv[:i] + argv[i + 2:]


def read_network(path):
    """A network file (§9.1), rebuilt into a Network; Failure if it cannot anchor anything."""
    try:
        with open(path, "rb") as f: state = json.loads(f.read().decode("utf-8"))
        return Network(state)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as e:
        raise Failure(f"not a network file: {e}")


def main(argv):
    try:
        topology, argv = option(argv, "--topology")
        network_path, files = option(argv, "--network")
    except ValueError:
        topology = network_path = None
    if topology is None and network_path is None:
        print(__doc__, file=sys.stderr)
        return 2
    pinned = {}
    if topology is not None:
        with open(topology) as f:
            pinned = {t["ods"]: key(t["signingKey"]) for t in json.load(f)["trusts"] if t.get("signingKey")}
    network = None
    if network_path is not None:
        try:
            network = read_network(network_path)
        except Failure as failure:
            print(f"{network_path}: {failure}", file=sys.stderr)
            return 2
    if files[:1] == ["--proof"] and len(files) == 2:
        with open(files[1], "rb") as f: data = f.read()
        try:
            print(f"OK      {files[1]}: {proof_verdict(data, pinned)}")
            return 0
        except Failure as failure:
            print(f"FAILED  {files[1]}: {failure}")
            return 1

    def network_for(trust):
        """The network decides for a trust it certifies a key of (§9.5); the topology for others."""
        return network if network is not None and network.decides(trust) else None

    logs, failures, checkpoints, heads = {}, {}, [], []
    for path in files:
        try:
            entries, held_heads, held = read(path)
            checkpoints += held
            heads += held_heads
            if not entries: continue
            counts = collections.Counter(e["trust"] for e in entries)
            trust = min(counts, key=lambda t: (-counts[t], t))
            if trust not in pinned and network_for(trust) is None:
                raise Failure(f"{trust}: unknown trust: the topology pins no key for it")
            keys = verify_chain(entries, trust, pinned.get(trust), network_for(trust))
            logs[path] = (trust, entries, keys)
            for e in entries:  # version 1: checkpoints recorded in the log itself (kind checkpoint)
                c = recorded_checkpoint(e["details"]) if e["kind"] == "checkpoint" and "details" in e else None
                if c is not None: checkpoints.append(dict(c, heldBy=trust))
        except Failure as failure:
            failures[path] = str(failure)
    reference = {}
    for path, (trust, entries, _) in logs.items():
        if trust not in reference or len(logs[reference[trust]][1]) < len(entries): reference[trust] = path
    for path, (trust, entries, _) in logs.items():
        longer = logs[reference[trust]][1]
        for a, b in zip(entries, longer):
            if a["hash"] != b["hash"]:
                message = f"{trust} #{a['sequence']}: conflicting copies: two copies of the log differ here"
                failures.setdefault(path, message)
                failures.setdefault(reference[trust], message)
                break
    checked = collections.defaultdict(list)
    unique = {json.dumps({k: c[k] for k in CHECKPOINT_KEYS}, sort_keys=True): c for c in reversed(checkpoints)}
    for c in sorted(unique.values(), key=lambda c: (c["sequence"], c["trust"], c["heldBy"])):
        path = reference.get(c["trust"])
        if path is None: continue
        trust, entries, keys = logs[path]
        try:
            check_checkpoint(c, entries, keys, pinned.get(trust), network_for(trust))
            checked[path].append((c["sequence"], "checkpoint", c["heldBy"]))
        except Failure as failure: failures.setdefault(path, str(failure))
    trees = {}
    unique = {json.dumps({k: h[k] for k in TREE_HEAD_KEYS}, sort_keys=True): h for h in reversed(heads)}
    for h in sorted(unique.values(), key=lambda h: (h["treeSize"], h["trust"], h["heldBy"])):
        path = reference.get(h["trust"])
        if path is None: continue
        trust, entries, keys = logs[path]
        if path not in trees: trees[path] = Tree(leaf_hash(entry_message(e)) for e in entries)
        try:
            check_tree_head(h, entries, keys, pinned.get(trust), trees[path], network_for(trust))
            checked[path].append((h["treeSize"], "tree head", h["heldBy"]))
        except Failure as failure: failures.setdefault(path, str(failure))
    for path in files:
        if path in failures: print(f"FAILED  {path}: {failures[path]}")
        elif path in logs:
            trust, entries, _ = logs[path]
            print(f"OK      {path}: {trust}, {len(entries)} entries; {pinned_note(checked[path], trust)}")
        else: print(f"OK      {path}: no entries")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
