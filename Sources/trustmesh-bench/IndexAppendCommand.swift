import ArgumentParser
import Foundation
import TrustMeshModel
import TrustMeshStore

/// `trustmesh-bench index-append`: stores records that `index-build --tail-out` wrote (JSON lines)
/// in one node's index, through `IndexTable.append`, so that node alone holds them and gossip must
/// carry them, verified, to the others.
struct IndexAppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index-append",
        abstract: "Store index records from a JSON-lines file in one node's index (Scripts/bench index).",
        discussion: "Prints appended_records; fails if any record would leave a gap in its origin's log."
    )

    @Option(help: "The node folder.")
    var data: String

    @Argument(help: "JSON lines, one signed index record each.")
    var file: String

    func run() async throws {
        guard let text = FileManager.default.contents(atPath: file) else { throw BenchError("cannot read \(file)") }
        let decoder = JSONDecoder()
        let records = try text.split(separator: 0x0A).map { try decoder.decode(IndexRecord.self, from: Data($0)) }
        let stored = try StudyStore(directory: data + "/store").index.append(records)
        guard stored.count == records.count else {
            throw BenchError("stored \(stored.count) of \(records.count) records (a gap?)")
        }
        print("appended_records \(stored.count)")
    }
}
