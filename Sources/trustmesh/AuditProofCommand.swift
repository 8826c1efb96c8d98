import ArgumentParser
import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

extension AuditCommand {
    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a proof that one entry is in this node's audit log, for an auditor.",
            discussion: """
                The proof holds the entry, a tree head this node signed that covers it, and the Merkle \
                audit path from the entry to the head's root (RFC 9162). Anyone with the trust's public \
                key checks it with `trustmesh audit check-proof`, without the rest of the log:

                  trustmesh audit prove --data DIR --entry 42 --out entry-42.json
                  trustmesh audit check-proof entry-42.json --topology TOPOLOGY

                By default the newest tree head of this node that covers the entry is used; when there is \
                none yet, one is signed now (the running node passes it to its peers at its next \
                interval). --tree-size picks a held head of that size instead, e.g. one peers are known \
                to hold. Writing a proof discloses the entry, so it is itself audited.
                """)

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The entry's sequence number (1, 2, 3…).", valueName: "N"))
        var entry: UInt64

        @Option(help: ArgumentHelp("Prove against this node's held tree head of this size.", valueName: "N"))
        var treeSize: UInt64?

        @Option(
            help: ArgumentHelp("The file to write (it must not exist); default: standard output.", valueName: "FILE"))
        var out: String?

        func validate() throws {
            if entry < 1 { throw ValidationError("--entry must be at least 1") }
            if let treeSize, treeSize < entry {
                throw ValidationError("--tree-size \(treeSize) cannot cover entry #\(entry)")
            }
        }

        func run() throws {
            let node = try LocalNode(directory: data)
            let audit = node.store.audit
            let me = node.configuration.trust
            guard let proved = try audit.after(sequence: entry - 1, limit: 1).first, proved.sequence == entry else {
                throw UserError("\(me)'s log has \(try audit.count()) entries; there is no entry #\(entry)")
            }
            try node.audit(
                .auditProofWritten, actor: LocalNode.localOperator,
                subject: [.sequence: "\(entry)", "destination": out == nil ? "standard output" : "file"],
                details: out)
            let head: SignedTreeHead
            if let treeSize {
                guard let held = try audit.treeHead(of: me, size: treeSize) else {
                    let sizes = try audit.treeHeads().filter { $0.trust == me }.map { "\($0.treeSize)" }
                    throw UserError(
                        "this node holds no tree head of \(treeSize) entries"
                            + (sizes.isEmpty ? "" : "; it holds heads of \(sizes.joined(separator: ", "))"))
                }
                head = held
            } else if let latest = try audit.latestTreeHead(of: me), latest.treeSize >= entry {
                head = latest
            } else {
                head = try audit.signTreeHead(trust: me, key: try node.signingKey(), time: CareTime.format(Date()))
                FileHandle.standardError.write(
                    Data(
                        "note: signed a new tree head of \(head.treeSize) entries; the running node gives it to its peers\n"
                            .utf8))
            }
            let proof = InclusionProof(
                entry: proved, treeHead: head, path: try audit.inclusionProof(sequence: entry, size: head.treeSize))
            let bytes = try proof.json()
            guard let out else {
                FileHandle.standardOutput.write(Data(bytes))
                return
            }
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: out), options: [.withoutOverwriting])
            } catch {
                throw UserError("cannot write \(out) (it must not exist already): \(error.localizedDescription)")
            }
            print(
                "Wrote the proof of \(me) #\(entry) (\(proved.kind)) against the tree head of \(head.treeSize) "
                    + "entries signed \(head.time) to \(out) (\(proof.path.count) hashes)")
        }
    }

    struct CheckProof: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-proof",
            abstract: "Check a proof that an entry is in a trust's audit log, with only its public key.",
            discussion: """
                Checks the entry's hash and signature, the tree head's signature, and that the audit path \
                leads from the entry to the head's root. The key comes from the network's topology \
                (--topology) or is given directly (--key, padded base64 of the 32-byte Ed25519 key).

                Exit status 0 if the proof holds, 1 otherwise.
                """)

        @Argument(help: ArgumentHelp("The proof (JSON), as `audit prove` writes it.", valueName: "FILE"))
        var file: String

        @Option(help: ArgumentHelp("The network's topology, with its pinned keys.", valueName: "FILE"))
        var topology: String?

        @Option(help: ArgumentHelp("The trust's signing key, padded base64.", valueName: "KEY"))
        var key: String?

        func validate() throws {
            if (topology == nil) == (key == nil) { throw ValidationError("give exactly one of --topology and --key") }
        }

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw UserError("cannot read \(file)") }
            let proof: InclusionProof
            do { proof = try AuditExport.inclusionProof(Array(data)) } catch {
                throw UserError(
                    "\(file) is not an inclusion proof as `trustmesh audit prove` writes it "
                        + "(docs/AUDIT-FORMAT.md): \(error)")
            }
            let trust = proof.entry.trust
            let verifyingKey: VerifyingKey
            if let key {
                do { verifyingKey = try VerifyingKey(base64: key) } catch {
                    throw UserError("--key is not padded base64 of a 32-byte Ed25519 key")
                }
            } else {
                guard let pinned = try AuditCommand.keys(topology!)[trust] else {
                    throw UserError("the topology pins no signing key for \(trust)")
                }
                verifyingKey = pinned
            }
            do {
                try proof.verify(key: verifyingKey)
            } catch {
                print("FAILED  \(trust) #\(proof.entry.sequence): \(error)")
                throw ExitCode(1)
            }
            let entry = proof.entry
            let head = proof.treeHead
            print(
                "OK      \(trust) #\(entry.sequence) (\(entry.kind) at \(entry.time) by \(entry.actor)) is in "
                    + "\(trust)'s log of \(head.treeSize) entries: tree head signed \(head.time), root "
                    + "\(head.rootHash.hex.prefix(16))…")
        }
    }
}
