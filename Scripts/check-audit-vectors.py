#!/usr/bin/env python3
"""Check docs/audit-vectors.json with the independent verifier, Scripts/verify-audit.py.

usage: check-audit-vectors.py [docs/audit-vectors.json]
       check-audit-vectors.py --read   (files in hex on standard input, one per line: how each reads)
Every entry, root, tree head, proof, accepted and malformed file, key statement and verdict (with
a topology, or with a network file's keys over time) must be reproduced.
Prints one line per failed check and 'N passed, N failed'; exit status 0 if none failed.
"""
import contextlib, importlib.util, io, json, os, sys, tempfile
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("verify_audit", os.path.join(here, "verify-audit.py"))
v = importlib.util.module_from_spec(spec)
spec.loader.exec_module(v)

passed, failed = 0, 0


def check(ok, what):
    global passed, failed
    if ok: passed += 1
    else:
        failed += 1
        print(f"FAILED  {what}")


def refusal(data):
    try:
        v.read_bytes(data)
        return None
    except v.Failure as f:
        return str(f)


def main(path):
    with open(path, "rb") as f:
        vectors = json.load(f)
    seed = bytes.fromhex(vectors["key"]["seed"])
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = v.base64.b64encode(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    check(public == vectors["key"]["publicKey"], "the seed's public key")
    pinned = v.key(public)

    entries = []
    for x in vectors["entries"]:
        e = v.read_bytes(x["line"].encode())[0][0]
        m = v.entry_message(e)
        where = f"entry #{x['sequence']}"
        check(e["sequence"] == x["sequence"], f"{where}: sequence")
        check(m.hex() == x["canonicalMessage"], f"{where}: canonical message")
        check(v.blake(m).hex() == x["hash"] == e["hash"], f"{where}: hash")
        check(v.leaf_hash(m).hex() == x["leafHash"], f"{where}: leaf hash")
        check(v.base64.b64encode(private.sign(m)).decode() == x["signature"] == e["signature"], f"{where}: signature")
        entries.append(e)
    try:
        keys = v.verify_chain(entries, "RRK", pinned)
        check(True, "the vectors' log verifies")
    except v.Failure as f:
        check(False, f"the vectors' log verifies: {f}")
        keys = [pinned] * len(entries)
    tree = v.Tree(v.leaf_hash(v.entry_message(e)) for e in entries)

    for x in vectors["merkleRoots"]:
        check(tree.root(x["treeSize"]).hex() == x["rootHash"], f"root of {x['treeSize']}")
    for x in vectors["treeHeads"]:
        h = v.read_bytes(x["line"].encode())[1][0]
        where = f"tree head of {x['treeSize']}"
        check(v.tree_head_message(h).hex() == x["signedMessage"], f"{where}: signed message")
        check(h["treeSize"] == x["treeSize"] and h["rootHash"] == x["rootHash"], f"{where}: fields")
        check(tree.root(h["treeSize"]).hex() == x["rootHash"], f"{where}: root")
        check(v.signed(pinned, h["signature"], v.tree_head_message(h)), f"{where}: signature")
        try:
            v.check_tree_head(h, entries, keys, pinned, tree)
            check(True, where)
        except v.Failure as f:
            check(False, f"{where}: {f}")
    for x in vectors["inclusionProofs"]:
        where = f"inclusion of #{x['entry']} in {x['treeSize']}"
        path = [bytes.fromhex(p) for p in x["path"]]
        root, leaf = bytes.fromhex(x["rootHash"]), bytes.fromhex(x["leafHash"])
        check(x["leafIndex"] == x["entry"] - 1, f"{where}: leaf index")
        check(tree.inclusion_proof(x["leafIndex"], x["treeSize"]) == path, f"{where}: path")
        check(tree.root(x["treeSize"]) == root, f"{where}: root")
        check(v.verify_inclusion(leaf, x["leafIndex"], x["treeSize"], path, root), f"{where}: verifies")
        if path:
            bent = [bytes([path[0][0] ^ 1]) + path[0][1:]] + path[1:]
            check(not v.verify_inclusion(leaf, x["leafIndex"], x["treeSize"], bent, root), f"{where}: bent path refused")
        check(not v.verify_inclusion(leaf, x["leafIndex"] + 1, x["treeSize"], path, root)
              or x["treeSize"] == 1, f"{where}: moved leaf refused")
    for x in vectors["consistencyProofs"]:
        where = f"consistency of {x['oldSize']} and {x['newSize']}"
        path = [bytes.fromhex(p) for p in x["path"]]
        old, new = bytes.fromhex(x["oldRoot"]), bytes.fromhex(x["newRoot"])
        check(tree.consistency_proof(x["oldSize"], x["newSize"]) == path, f"{where}: path")
        check(tree.root(x["oldSize"]) == old and tree.root(x["newSize"]) == new, f"{where}: roots")
        check(v.verify_consistency(x["oldSize"], x["newSize"], old, new, path), f"{where}: verifies")
        if path:
            bent = path[:-1] + [bytes([path[-1][0] ^ 1]) + path[-1][1:]]
            check(not v.verify_consistency(x["oldSize"], x["newSize"], old, new, bent), f"{where}: bent path refused")

    for x in vectors["accepted"]:
        try:
            e, h, _ = v.read_bytes(bytes.fromhex(x["bytes"]))
            check(len(e) == x["entries"] and len(h) == x["treeHeads"], f"accepted {x['name']!r}: counts")
            v.verify_chain(e, "RRK", pinned)
            check(True, f"accepted {x['name']!r}: verifies")
        except v.Failure as f:
            check(False, f"accepted {x['name']!r}: {f}")
    for x in vectors["malformed"]:
        data = bytes.fromhex(x["bytes"])
        got = refusal(data)
        check(got is not None and got.startswith(f"line {x['line']}: {x['failure']}: "),
              f"malformed {x['name']!r}: expected line {x['line']}: {x['failure']}, got {got}")
        if x.get("text") is not None: check(x["text"].encode() == data, f"malformed {x['name']!r}: text")

    with tempfile.TemporaryDirectory() as d:
        topology = os.path.join(d, "topology.json")
        with open(topology, "w") as f: f.write(vectors["key"]["topology"])
        for x in vectors["verdicts"]:
            files = []
            for file in x["files"]:
                files.append(os.path.join(d, file["name"]))
                with open(files[-1], "w") as f: f.write(file["text"])
            out = io.StringIO()
            with contextlib.redirect_stdout(out): v.main(files + ["--topology", topology])
            lines = out.getvalue().splitlines()
            for file, path in zip(x["files"], files):
                line = next((l for l in lines if f" {path}: " in l), "")
                ok = line.startswith(f"OK      {path}: ") if file["verdict"] == "OK" else \
                    line.startswith(f"FAILED  {path}: {file['verdict']}: ")
                check(ok, f"verdict {x['name']!r} for {file['name']}: expected {file['verdict']}, got {line!r}")

    for x in vectors["proofFiles"]:
        try:
            v.proof_verdict(x["document"].encode(), {"RRK": pinned})
            got = "OK"
        except v.Failure as f:
            got = str(f).split(":")[0]
        check(got == x["verdict"], f"proof file {x['name']!r}: expected {x['verdict']}, got {got}")

    key_changes(vectors["keyChanges"])

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def key_changes(vectors):
    """§9: each key from its seed, each statement's signed bytes and signatures, and every verdict
    with a network file (and a topology, when one is given)."""
    for x in vectors["keys"]:
        private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(x["seed"]))
        public = v.base64.b64encode(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
        check(public == x["publicKey"], f"key {x['name']!r}")
    messages = {"membership": lambda o: v.membership_message(o["membership"]),
                "certificate": v.certificate_message, "revocation": v.revocation_message}
    for x in vectors["statements"]:
        o = json.loads(x["json"])
        m = messages[x["kind"]](o)
        check(m.hex() == x["signedMessage"], f"statement {x['name']!r}: signed message")
        signatures = [s["signature"] for s in o["signatures"]] if x["kind"] == "membership" else [o["signature"]]
        check(len(signatures) == len(x["signedBy"]) and all(
            v.signed(v.key(k), sig, m) for k, sig in zip(x["signedBy"], signatures)), f"statement {x['name']!r}: signed")
    networks = {n["name"]: n["text"] for n in vectors["networks"]}
    with tempfile.TemporaryDirectory() as d:
        for x in vectors["verdicts"]:
            arguments = []
            if x.get("network") is not None:
                arguments += ["--network", os.path.join(d, "network.json")]
                with open(arguments[-1], "w") as f: f.write(networks[x["network"]])
            if x.get("topology") is not None:
                arguments += ["--topology", os.path.join(d, "topology.json")]
                with open(arguments[-1], "w") as f: f.write(x["topology"])
            files = []
            for file in x["files"]:
                files.append(os.path.join(d, file["name"]))
                with open(files[-1], "w") as f: f.write(file["text"])
            out = io.StringIO()
            with contextlib.redirect_stdout(out): v.main(files + arguments)
            lines = out.getvalue().splitlines()
            for file, path in zip(x["files"], files):
                line = next((l for l in lines if f" {path}: " in l), "")
                ok = line.startswith(f"OK      {path}: ") if file["verdict"] == "OK" else \
                    line.startswith(f"FAILED  {path}: {file['verdict']}: ")
                check(ok, f"key change {x['name']!r} for {file['name']}: expected {file['verdict']}, got {line!r}")


def reading(data):
    """What the reader makes of a file: `malformed N`, or `OK` and the messages of its entries, tree
    heads and checkpoints (hex), so that two readers can be compared byte for byte."""
    try:
        entries, heads, held = v.read_bytes(data)
    except v.Failure as f:
        return "malformed " + str(f).split(":")[0].split(" ")[1]
    return " ".join(["OK"] + [v.entry_message(e).hex() for e in entries]
                    + [h["heldBy"] + ":" + v.tree_head_message(h).hex() for h in heads]
                    + [c["heldBy"] + ":" + v.checkpoint_message(c).hex() for c in held])


if __name__ == "__main__" and sys.argv[1:] == ["--read"]:
    # One file per line of standard input, in hex; one reading per line of output.
    for line in sys.stdin:
        print(reading(bytes.fromhex(line.strip())))
    sys.exit(0)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "docs", "audit-vectors.json")))
