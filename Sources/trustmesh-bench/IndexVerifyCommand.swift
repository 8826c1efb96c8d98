import ArgumentParser
import Foundation
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// `trustmesh-bench index-verify`: reads records back from a node's catalogue and checks each
/// signature with its origin's key as the network's topology pins it, so an index that
/// `index-build` wrote is shown to hold only records the node itself would have accepted.
struct IndexVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-verify",
        abstract: "Check the signatures of a node's index records with the topology's pinned keys.",
        discussion: """
            --sample N checks N records (runs of 500 from random places); --sample 0 checks every record.
            Prints verified_records, verify_seconds; exits 1 on the first record that does not verify.
            """
    )

    @Option(help: "The network's topology.json (the pinned keys).")
    var topology: String

    @Option(help: "The node folder.")
    var data: String

    @Option(help: "Records to check, in runs of 500 from random places; 0 for all.")
    var sample = 50_000

    @Option(help: "Seed for the sample.")
    var seed: UInt64 = 7

    func run() async throws {
        let pinned = try LocalNetwork.read(topology)
        let store = try StudyStore(directory: data + "/store")
        let heads = try store.index.digest()
        var keys: [TrustID: VerifyingKey] = [:]
        for origin in heads.keys {
            guard let key = pinned.trust(origin)?.signingKey else { throw BenchError("\(origin.code) is not pinned") }
            keys[origin] = key
        }
        let start = ContinuousClock.now
        var checked = 0
        if sample <= 0 {
            for (origin, head) in heads.sorted(by: { $0.key < $1.key }) {
                var after: UInt64 = 0
                while after < head {
                    let batch = try store.index.records(origin: origin, after: after, limit: 50_000)
                    guard let last = batch.last else { break }
                    try await Self.verify(batch, keys: keys)
                    checked += batch.count
                    after = last.sequence
                }
            }
        } else {
            // Runs of 500 consecutive records from random places in random origins' logs: one read
            // per run, so the sample costs what the signatures cost.
            var random = SplitMix64(seed: seed)
            let origins = heads.keys.sorted()
            var batch: [IndexRecord] = []
            while batch.count < sample {
                let origin = origins[Int(random.next() % UInt64(origins.count))]
                let after = random.next() % heads[origin]!
                let run = try store.index.records(origin: origin, after: after, limit: min(500, sample - batch.count))
                guard run.first?.sequence == after + 1 else {
                    throw BenchError("no record \(origin.code)#\(after + 1) below the head")
                }
                batch += run
            }
            try await Self.verify(batch, keys: keys)
            checked = batch.count
        }
        print("verified_records \(checked)")
        print("verify_seconds \(String(format: "%.1f", IndexBuildCommand.seconds(ContinuousClock.now - start)))")
    }

    /// Verifies every record with its origin's key, split across the cores.
    /// - Throws: ``BenchError`` naming the first record that does not verify.
    static func verify(_ records: [IndexRecord], keys: [TrustID: VerifyingKey]) async throws {
        let parts = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let size = max(1, (records.count + parts - 1) / parts)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for first in stride(from: 0, to: records.count, by: size) {
                let slice = records[first..<min(records.count, first + size)]
                group.addTask {
                    for record in slice {
                        do {
                            try record.verify(with: keys[record.origin]!)
                        } catch {
                            throw BenchError("\(record.origin.code)#\(record.sequence) does not verify: \(error)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
