import ArgumentParser
import Foundation
import Synchronization
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// `trustmesh-bench index-query`: where the time of one federated query goes, in process, over a
/// node folder's real catalogue: the patient's records and the studies held here (one read), the same
/// records decoded by `JSONDecoder` for reference, the whole ``LocalNode/query(nhs:topology:by:)`` (its audit entry included) and the answer's JSON.
/// Run it while no node runs on the folder (each query appends an audit entry to it).
struct IndexQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-query",
        abstract: "Where the time of one federated query goes, over a node folder's real catalogue.",
        discussion: "Prints, per stage, the median and p99 in microseconds over the patients."
    )

    @Option(help: "The node folder.")
    var data: String

    @Option(help: "Patients, one a line: \"random ID\" or \"heavy ID\" (index-build --patients).")
    var patients: String

    @Option(help: "Which patients: random or heavy.")
    var kind = "heavy"

    @Option(help: "Queries per stage (patients taken round robin).")
    var count = 400

    @Option(
        help: """
            Checkpoint the catalogue's write-ahead log every this many milliseconds on a thread of its \
            own, as a running node does (0: SQLite's own checkpoints, as a CLI command).
            """)
    var checkpointEvery = 0

    func run() throws {
        let node = try LocalNode(directory: data)
        let chosen = try String(contentsOfFile: patients, encoding: .utf8).split(separator: "\n").compactMap {
            line -> NHSNumber? in
            let parts = line.split(separator: " ")
            return parts.count == 2 && parts[0] == kind ? try? NHSNumber(String(parts[1])) : nil
        }
        guard !chosen.isEmpty else { throw BenchError("no \(kind) patients in \(patients)") }
        let stop = Atomic(false)
        if checkpointEvery > 0 {
            let (store, interval) = (node.store, UInt32(checkpointEvery) * 1000)
            Thread.detachNewThread {
                while !stop.load(ordering: .relaxed) {
                    usleep(interval)
                    _ = try? store.checkpointCatalogue()
                }
            }
        }
        defer { stop.store(true, ordering: .relaxed) }
        let encoder = JSONEncoder()
        var studies = 0
        try stage("the audit entry alone") {
            try node.audit(.query, actor: .system("bench"), subject: [.nhsNumber: $0.digits])
        }
        try stage("records and held studies, one read") { try _ = node.store.index.patient(nhs: $0) }
        // The same records through JSONDecoder, as every read was decoded before IndexRecordReader.
        let blobs = try chosen.map { try node.store.index.records(nhs: $0).map { try encoder.encode($0) } }
        var blobIndex = 0
        let decoder = JSONDecoder()
        try stage("the records through JSONDecoder (reference)") { _ in
            for blob in blobs[blobIndex % blobs.count] { _ = try decoder.decode(IndexRecord.self, from: blob) }
            blobIndex += 1
        }
        try stage("query (audit included)") { studies += try node.query(nhs: $0, by: .system("bench")).studies.count }
        try stage("query and its JSON (JSONEncoder)") {
            try _ = encoder.encode(node.query(nhs: $0, by: .system("bench")))
        }
        try stage("query and its JSON (as the API writes it)") {
            try _ = node.query(nhs: $0, by: .system("bench")).json
        }
        print("studies listed (mean) \(String(format: "%.1f", Double(studies) / Double(count)))")

        func stage(_ name: String, _ body: (NHSNumber) throws -> Void) rethrows {
            for patient in chosen.prefix(20) { try body(patient) }  // warm
            var times: [Double] = []
            for index in 0..<max(1, count) {
                let start = DispatchTime.now().uptimeNanoseconds
                try body(chosen[index % chosen.count])
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
            }
            times.sort()
            print(
                "\(name): p50 \(Int(times[times.count / 2])) µs, p99 \(Int(times[times.count * 99 / 100])) µs")
        }
    }
}
