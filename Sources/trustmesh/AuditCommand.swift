import ArgumentParser
import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshPolicy
import TrustMeshStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Export, verify, replay and prove nodes' tamper-evident audit logs.",
        discussion: """
            Each node keeps a hash-chained log of what it did, signed with its key, whose entries form \
            a Merkle tree; it signs tree heads of it and holds the heads its peers signed. Export every \
            trust's log, then verify and replay them together, so that each log is checked against the \
            heads its peers hold (a log shorter than, or different from, a head they hold fails):

              trustmesh audit export --data DIR --out rrk.jsonl
              trustmesh audit verify rrk.jsonl rq3.jsonl --topology TOPOLOGY
              trustmesh audit replay rrk.jsonl rq3.jsonl --topology TOPOLOGY

            Once nodes' keys rotate or are revoked, check against the network's signed statements \
            instead (`trustmesh membership export --data DIR --out network.json`): each entry and \
            tree head is checked with the keys its trust held at its own time, and what a revoked key \
            signed from the revocation's `since` on is refused:

              trustmesh audit verify rrk.jsonl rq3.jsonl --network network.json

            To show one entry to someone without handing over the log:

              trustmesh audit prove --data DIR --entry 42 --out entry-42.json
              trustmesh audit check-proof entry-42.json --topology TOPOLOGY

            `audit export --format fhir | dicom` writes the NHS's formats (FHIR AuditEvent, DICOM \
            audit messages). The format is specified in docs/AUDIT-FORMAT.md; Scripts/verify-audit.py \
            checks exports independently.
            """,
        subcommands: [Export.self, Verify.self, Replay.self, Prove.self, CheckProof.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check exported logs' chains, signatures, tree heads and checkpoints.",
            discussion: """
                Each file's entries must be numbered 1, 2, 3… without gaps, each hashed, linked to the one \
                before and signed by its trust's key: as the topology pins it (following keyChanged entries \
                back), or, with --network, a key the trust's root certified for the entry's time and not \
                revoked at it (an entry signed with a revoked key at or after the revocation's `since` \
                fails as `revoked key`, naming the revocation; one signed before stays valid). Every signed tree head (and \
                version 1 checkpoint) that any of the files holds is then checked against the log it \
                describes: a log shorter than a head was truncated (dropping even the last entry shows), \
                one whose Merkle tree differs from a head was rewritten. The first failure of each file is \
                reported with its trust, sequence number and what failed; a log that verifies says how far \
                other trusts' heads pin it (entries after that could still be rewritten by its key holder).

                Exit status 0 if every file verified, 1 otherwise.
                """)

        @Argument(help: ArgumentHelp("Exported logs (JSON Lines).", valueName: "FILE"))
        var files: [String]

        @OptionGroup var source: KeySource

        func run() throws {
            let keys = try AuditCommand.keys(topology: source.topology, network: source.network)
            var exports: [AuditExport] = []
            var parseFailures: [Int: String] = [:]
            var positions: [Int] = []
            for (index, file) in files.enumerated() {
                do {
                    exports.append(try AuditCommand.read(file))
                    positions.append(index)
                } catch {
                    parseFailures[index] = "\(error)"
                }
            }
            let verification = AuditVerification(exports: exports, keys: keys)
            var results: [Int: AuditVerification.FileResult] = [:]
            for (position, result) in zip(positions, verification.files) { results[position] = result }
            var failed = 0
            for (index, file) in files.enumerated() {
                if let failure = parseFailures[index] {
                    failed += 1
                    print("FAILED  \(file): \(failure)")
                    continue
                }
                guard let result = results[index] else { continue }
                let trust = result.trust?.code ?? "—"
                if let failure = result.failure {
                    failed += 1
                    print("FAILED  \(trust)  \(file): \(failure)")
                } else if let head = result.head {
                    let pinned =
                        result.pinnedTo == 0
                        ? "not pinned by any other trust's tree head or checkpoint: #1–#\(head.sequence) could be "
                            + "rewritten by \(trust)'s key holder undetected"
                        : "pinned to #\(result.pinnedTo) by "
                            + result.pinnedBy.map(\.code).joined(separator: ", ")
                            + (result.pinnedTo < head.sequence
                                ? " (#\(result.pinnedTo + 1)–#\(head.sequence) not yet pinned)" : "")
                    let heads = result.treeHeadsChecked.count
                    let checkpoints = result.checkpointsChecked.count
                    print(
                        "OK      \(trust)  \(file): \(result.entryCount) entries (#1–#\(head.sequence)), "
                            + "head \(head.hash.hex.prefix(16))…; agrees with \(heads) tree head\(heads == 1 ? "" : "s")"
                            + (checkpoints == 0 ? "" : " and \(checkpoints) checkpoint\(checkpoints == 1 ? "" : "s")")
                            + "; \(pinned)")
                } else {
                    print("OK      —  \(file): no entries")
                }
            }
            let uncheckedHeads = verification.uncheckedTreeHeads
            if !uncheckedHeads.isEmpty {
                let trusts = Set(uncheckedHeads.map(\.treeHead.trust.code)).sorted().joined(separator: ", ")
                print(
                    "\(uncheckedHeads.count) tree head\(uncheckedHeads.count == 1 ? "" : "s") of \(trusts) not checked: "
                        + "that log was not given, did not verify, or has no pinned key")
            }
            let unchecked = verification.unchecked
            if !unchecked.isEmpty {
                let trusts = Set(unchecked.map(\.checkpoint.trust.code)).sorted().joined(separator: ", ")
                print(
                    "\(unchecked.count) checkpoint\(unchecked.count == 1 ? "" : "s") of \(trusts) not checked: "
                        + "that log was not given (or has no pinned key)")
            }
            if failed > 0 {
                print("\(failed) of \(files.count) log\(files.count == 1 ? "" : "s") failed verification.")
                throw ExitCode(1)
            }
            print("All \(files.count) log\(files.count == 1 ? "" : "s") verified.")
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a timeline across trusts' logs and report policy findings.",
            discussion: """
                Re-runs the sharing policy (the network policy's caps per kind) on every share a holder \
                logged (its care relationship, the patient's opt-out state as the logs knew it, the \
                time), matches each transfer the holder served with the requester's completion, and \
                reports gaps and checkpoint disagreements; emergency accesses awaiting review (used, with \
                no emergencyReviewed entry after); care relationships never used (no fetch or share \
                under them in the logs given); and a person recording more than --max-care-per-day care \
                relationships in one UTC day. The timeline names each person (name, role code, \
                organisation) or system. NHS numbers are masked in the output.

                Exit status 0 with no findings, 3 with findings.
                """)

        @Argument(help: ArgumentHelp("Exported logs (JSON Lines), one or more per trust.", valueName: "FILE"))
        var files: [String]

        @OptionGroup var source: KeySource

        func validate() throws {
            if let maxCarePerDay, maxCarePerDay < 1 { throw ValidationError("--max-care-per-day must be at least 1") }
        }

        @Option(
            help: ArgumentHelp(
                "The network policy the nodes applied; default: policy.json beside the topology if there is one, else the defaults.",
                valueName: "FILE"))
        var policy: String?

        @Option(
            help: ArgumentHelp(
                "Report a person who recorded more than N care relationships in one UTC day (default: the network policy's maxCareRecordsPerPersonPerDay, 20).",
                valueName: "N"))
        var maxCarePerDay: Int?

        @Flag(help: "Print the report as JSON (timeline included).")
        var json = false

        @Flag(help: "Also print the merged timeline.")
        var timeline = false

        func run() throws {
            let keys = try AuditCommand.keys(topology: source.topology, network: source.network)
            var exports: [AuditExport] = []
            for file in files {
                do { exports.append(try AuditCommand.read(file)) } catch { throw UserError("\(file): \(error)") }
            }
            // As the node: --policy, else policy.json beside the topology (or the network file).
            var networkPolicy = try LocalNetwork.policy(policy, besideTopology: source.topology ?? source.network ?? "")
                .policy
            if let maxCarePerDay { networkPolicy.maxCareRecordsPerPersonPerDay = maxCarePerDay }
            let report = AuditReplay.run(exports: exports, keys: keys, policy: networkPolicy)
            if json {
                print(try Output.json(report))
            } else {
                print(Self.text(report, timeline: timeline), terminator: "")
            }
            if report.hasFindings { throw ExitCode(3) }
        }

        static func text(_ report: AuditReplayReport, timeline: Bool) -> String {
            var out = "Replayed \(report.trusts.count) trust\(report.trusts.count == 1 ? "" : "s"):\n"
            for trust in report.trusts {
                out +=
                    "  \(Output.column(trust.trust.code, 7))\(trust.entries) entries to #\(trust.lastSequence)"
                    + (trust.firstTime.map { ", \($0) – \(trust.lastTime ?? $0)" } ?? "") + "\n"
            }
            if timeline {
                out += "Timeline:\n"
                for event in report.timeline {
                    // Who acted is never cut short: an auditor needs the whole name.
                    let who =
                        event.who.count < 34
                        ? event.who.padding(toLength: 34, withPad: " ", startingAt: 0) : event.who + " "
                    out +=
                        "  \(event.time)  \(Output.column("\(event.trust.code) #\(event.sequence)", 12))"
                        + "\(Output.column(event.kind, 18))\(who)" + Self.subject(event.subject) + "\n"
                }
            }
            if report.findings.isEmpty {
                out += "No findings.\n"
            } else {
                out += "Findings (\(report.findings.count)):\n"
                for finding in report.findings {
                    out += "  \(Output.column(finding.kind.rawValue, 24))\(finding.message)\n"
                }
            }
            for note in report.notes { out += "Note: \(note)\n" }
            return out
        }

        /// A timeline line's subject: the keys naming who acted are left out (the line names them),
        /// and a cut expiry reads "expiry STATED cut to EFFECTIVE".
        static func subject(_ subject: [String: String]) -> String {
            let actorKeys: Set<String> = [
                "actorKind", "actorIssuer", "actorSubject", "actorRole", "actorOrganisation", "actorRegistration",
            ]
            var parts: [String] = []
            for (key, value) in subject.sorted(by: { $0.key < $1.key }) where !actorKeys.contains(key) {
                switch key {
                case "expiryStated": continue
                case "expiryEffective":
                    parts.append(
                        subject["expiryStated"].map { "expiry \($0) cut to \(value)" } ?? "expiry \(value)")
                default: parts.append("\(key)=\(value)")
                }
            }
            return parts.joined(separator: " ")
        }
    }

    /// Where an auditor's keys come from: a topology's pinned keys, a network file's statements, or both.
    struct KeySource: ParsableArguments {
        @Option(help: ArgumentHelp("The network's topology, with its pinned keys.", valueName: "FILE"))
        var topology: String?

        @Option(
            help: ArgumentHelp(
                "A network file (membership export): check each entry and tree head with the keys its trust held at its time.",
                valueName: "FILE"))
        var network: String?

        func validate() throws {
            if topology == nil && network == nil { throw ValidationError("give --topology FILE or --network FILE") }
        }
    }

    /// The keys to verify with: the topology's pinned keys, or the network file's statements (the
    /// topology then only for trusts the network certifies no key of). Statements the network file
    /// holds but that are not believed (a bad signature, not the trust's root) are named on standard
    /// error, and take no part.
    static func keys(topology: String?, network: String?) throws -> AuditKeys {
        let pinned = try topology.map(keys) ?? [:]
        guard let network else { return AuditKeys(pinned: pinned) }
        let state = try LocalNode.readNetworkState(network)
        guard let first = state.memberships.min(by: { $0.membership.version < $1.membership.version }) else {
            throw UserError("\(network) holds no membership document: write it with `trustmesh membership export`")
        }
        let directory: NetworkDirectory
        do {
            directory = try NetworkDirectory(pinned: first)
        } catch {
            throw UserError("\(network): its first membership version cannot be taken as the anchor: \(error)")
        }
        for outcome in directory.merge(state) {
            switch outcome {
            case .refused(let reason):
                FileHandle.standardError.write(Data("Note: \(network): a statement not believed: \(reason)\n".utf8))
            case .conflict(let conflict):
                FileHandle.standardError.write(
                    Data("Note: \(network): \(conflict.reason); the first is used\n".utf8))
            case .applied, .known: break
            }
        }
        return AuditKeys(network: directory, pinned: pinned)
    }

    /// The signing keys the topology pins, by trust.
    static func keys(_ path: String) throws -> [TrustID: VerifyingKey] {
        let topology = try LocalNetwork.read(path)
        var keys: [TrustID: VerifyingKey] = [:]
        for trust in topology.trusts { keys[trust.ods] = trust.signingKey }
        if keys.isEmpty {
            throw UserError("\(path) pins no signing keys: use the topology written by `network create`")
        }
        return keys
    }

    /// Reads and parses one export.
    static func read(_ path: String) throws -> AuditExport {
        guard let data = FileManager.default.contents(atPath: path) else { throw UserError("cannot read \(path)") }
        return try AuditExport.parse(Array(data))
    }
}
