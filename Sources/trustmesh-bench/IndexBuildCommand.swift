import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// `trustmesh-bench index-build`: fills a node's index with a national-size set of signed records
/// (``NationalIndexGenerator``), for `Scripts/bench index`.
///
/// Each origin's records are signed with that origin's own node key from the network folder that
/// `trustmesh network create` made, so they verify with the keys the network pins. Signing runs on
/// every core while the previous window is stored; each window is one write transaction through the
/// store's own `IndexTable.append` (the path gossip's records take once verified: contiguity per
/// origin, the heads kept in the same transaction). Signatures are not checked here; `index-verify`
/// checks them, and the tail (`--tail`) is left for a peer to deliver by gossip, through the
/// running node's own verification.
struct IndexBuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-build",
        abstract: "Fill a node's index with a national-size set of signed records (Scripts/bench index).",
        discussion: """
            Prints key-value lines: records, patients, each kind's count, build_seconds, and the
            catalogue's size. --patients writes "random NHS" and "heavy NHS" lines for the queries.
            """
    )

    @Option(help: "The folder `trustmesh network create` made: each origin's key is DIR/<ODS>/keys/signing.key.")
    var net: String

    @Option(help: "The node folder whose index is filled (its store must hold no index records yet).")
    var data: String

    @Option(help: "Signing trusts, comma-separated (default: every trust in the network's topology.json).")
    var origins: String?

    @Option(help: "Records in the whole index, the tail included.")
    var records = 10_000_000

    @Option(help: "The last records, written to --tail-out as JSON lines instead of the catalogue.")
    var tail = 0

    @Option(help: "Where the tail goes.")
    var tailOut: String?

    @Option(help: "Patients with 50 studies each.")
    var heavy = 200

    @Option(
        help:
            "Records per window (one transaction; NHS-ordered per origin within); 0: a twentieth of the records, 1,000 to 500,000."
    )
    var window = 0

    @Option(help: "Random patients to list in --patients.")
    var sample = 2000

    @Option(help: "Where to list the sampled and the heavy patients.")
    var patients: String?

    @Option(help: "Seed: the same seed and sizes give the same records.")
    var seed: UInt64 = 17

    func run() async throws {
        let topology = try LocalNetwork.read(net + "/topology.json")
        let trusts =
            try origins.map { try $0.split(separator: ",").map { try TrustID(String($0)) } }
            ?? topology.trusts.map(\.ods)
        var keys: [TrustID: SigningKey] = [:]
        for trust in trusts {
            let key = try SigningKey.read(from: "\(net)/\(trust.code)/keys/signing.key")
            guard topology.trust(trust)?.signingKey == key.verifyingKey else {
                throw BenchError("\(trust.code)'s node key is not the key the topology pins")
            }
            keys[trust] = key
        }
        let store = try StudyStore(directory: data + "/store")
        guard try store.index.digest().isEmpty else { throw BenchError("\(data) already holds index records") }
        let total = max(1, records)
        let kept = total - min(max(0, tail), total)
        let windowSize = window > 0 ? window : max(1000, min(500_000, total / 20))
        let generator = NationalIndexGenerator(
            origins: trusts, records: total, heavy: heavy, window: windowSize, sampleSize: sample, seed: seed)
        let start = ContinuousClock.now
        var stored = 0
        // Generate and sign the next window while this one is stored (the generator travels with the
        // task): signing is most of the CPU and runs on every core; the store's append is one thread.
        let signingKeys = keys
        func prepare(_ generator: NationalIndexGenerator, made: Int) -> Task<Prepared, Never> {
            Task { [signingKeys, windowSize, kept] in
                var generator = generator
                let count = min(windowSize, kept - made)
                let drafts = generator.next(count, issuedAt: Timestamp.text(Date()))
                return Prepared(generator: generator, records: await Self.sign(drafts, keys: signingKeys))
            }
        }
        var next = prepare(generator, made: 0)
        var prepared = await next.value
        while !prepared.records.isEmpty {
            next = prepare(prepared.generator, made: stored + prepared.records.count)
            let appended = try store.index.append(prepared.records)
            guard appended.count == prepared.records.count else {
                throw BenchError("the index stored \(appended.count) of \(prepared.records.count) records (a gap?)")
            }
            stored += appended.count
            let elapsed = Self.seconds(ContinuousClock.now - start)
            FileHandle.standardError.write(
                Data(
                    "index-build: \(stored) records stored, \(Int(Double(stored) / max(elapsed, 0.001))) records/s\n"
                        .utf8))
            prepared = await next.value
        }
        var last = prepared.generator
        let buildSeconds = Self.seconds(ContinuousClock.now - start)
        if kept < total {
            let records = await Self.sign(last.next(total - kept, issuedAt: Timestamp.text(Date())), keys: signingKeys)
            let encoder = JSONEncoder()
            var lines = Data()
            for record in records {
                lines.append(try encoder.encode(record))
                lines.append(0x0A)
            }
            try lines.write(to: URL(fileURLWithPath: tailOut ?? data + "/tail.jsonl"))
        }
        if let patients {
            let lines =
                last.sample.map { "random \($0.digits)\n" }
                + last.heavyPatients.map { "heavy \($0.digits)\n" }
            try Data(lines.joined().utf8).write(to: URL(fileURLWithPath: patients))
        }
        print("records \(total)")
        print("records_in_catalogue \(stored)")
        print("tail \(total - kept)")
        for (kind, count) in last.counts.sorted(by: { $0.key < $1.key }) { print("kind_\(kind) \(count)") }
        print("origins \(trusts.count)")
        print("build_seconds \(String(format: "%.1f", buildSeconds))")
    }

    /// A window ready to store, and the generator that made it (to make the next).
    struct Prepared: Sendable {
        /// The generator after this window.
        var generator: NationalIndexGenerator
        /// The window's signed records; empty when every record has been made.
        var records: [IndexRecord]
    }

    /// Signs `drafts` with their origins' keys, split across the cores, in order.
    static func sign(_ drafts: [IndexRecord.Draft], keys: [TrustID: SigningKey]) async -> [IndexRecord] {
        let parts = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let size = (drafts.count + parts - 1) / max(1, parts)
        guard size > 0 else { return [] }
        return await withTaskGroup(of: (Int, [IndexRecord]).self) { group in
            for (part, first) in stride(from: 0, to: drafts.count, by: size).enumerated() {
                let slice = drafts[first..<min(drafts.count, first + size)]
                group.addTask { (part, slice.map { $0.signed(by: keys[$0.origin]!) }) }
            }
            var signed: [(Int, [IndexRecord])] = []
            for await part in group { signed.append(part) }
            return signed.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
