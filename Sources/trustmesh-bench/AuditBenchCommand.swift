import ArgumentParser
import Foundation
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshStore

struct AuditBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Measure audit-log appends per second on a real SQLite file in a temporary folder.",
        discussion: "Single, batched and group-commit appends, then verification (Scripts/bench audit)."
    )

    @Option(help: "Entries per measurement.")
    var entries = 2000

    @Option(help: "Entries per transaction in the batched measurement.")
    var batch = 100

    @Option(help: "Concurrent appenders in the group-commit measurement.")
    var concurrency = 32

    func run() async throws {
        let directory =
            FileManager.default.temporaryDirectory.path + "/trustmesh-audit-bench-"
            + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trust = try TrustID("RRK")
        let key = SigningKey()
        let count = max(1, entries)
        func draft(_ n: Int) -> AuditEntry.Draft {
            AuditEntry.Draft(
                trust: trust, time: CareTime.format(Date()), kind: .fetchServed, actor: "RQ3",
                subject: [.peer: "RQ3", .studyUID: "1.2.826.0.1.3680043.10.999.\(n)", .nhsNumber: "9434765919"])
        }
        func report(_ label: String, _ count: Int, since start: ContinuousClock.Instant, unit: String = "appends/s") {
            let elapsed = (ContinuousClock.now - start).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            let rate = String(format: "%9.0f", Double(count) / seconds)
            print("\(label.padding(toLength: 44, withPad: " ", startingAt: 0)) \(rate) \(unit)")
        }
        print("audit bench: \(count) entries per measurement; SQLite WAL, synchronous=FULL, in \(directory)")

        let single = try StudyStore(directory: directory + "/single").audit
        var start = ContinuousClock.now
        for n in 0..<count { try single.append(draft(n), key: key) }
        report("single appends (1 per transaction)", count, since: start)

        let batched = try StudyStore(directory: directory + "/batched").audit
        let size = max(1, batch)
        start = ContinuousClock.now
        for first in stride(from: 0, to: count, by: size) {
            try batched.appendBatch((first..<min(count, first + size)).map(draft), key: key)
        }
        report("batched appends (\(size) per transaction)", count, since: start)

        let writer = AuditWriter(table: try StudyStore(directory: directory + "/group").audit, key: key)
        let tasks = max(1, concurrency)
        start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for n in stride(from: task, to: count, by: tasks) { _ = try await writer.append(draft(n)) }
                }
            }
            try await group.waitForAll()
        }
        report("group commit (\(tasks) concurrent appenders)", count, since: start)

        let all = try single.all()
        start = ContinuousClock.now
        _ = try AuditChain.verify(all, key: key.verifyingKey)
        report("verify (hash, signature, link)", all.count, since: start, unit: "entries/s")
    }
}
