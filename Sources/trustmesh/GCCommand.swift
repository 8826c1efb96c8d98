import ArgumentParser
import Foundation
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshStore

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Free disk space that no study uses: chunks of abandoned fetches, leftovers of interrupted ingests.",
        discussion: """
            Removes catalogue rows of chunks that no instance uses, then chunk files and pack files \
            that no row lists. Safe while the node runs: chunks a fetch stored within --staged-hours \
            are kept (the fetch may still resume), and files modified within --file-minutes are kept \
            (an ingest or fetch writes its files before it lists them). Studies are never touched.

              trustmesh gc --data /var/lib/trustmesh --dry-run    # what would go
              trustmesh gc --data /var/lib/trustmesh
            """
    )

    @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
    var data: String

    @Option(help: "Keep chunks a fetch stored less than this many hours ago.")
    var stagedHours: Double = 24

    @Option(help: "Keep unlisted files modified less than this many minutes ago.")
    var fileMinutes: Double = 60

    @Flag(help: "Count what would be removed; remove nothing.")
    var dryRun = false

    func validate() throws {
        guard stagedHours >= 0, fileMinutes >= 0 else {
            throw ValidationError("--staged-hours and --file-minutes must not be negative")
        }
    }

    func run() throws {
        let node = try LocalNode(directory: data)
        let report = try node.store.collectGarbage(
            stagedBefore: Date(timeIntervalSinceNow: -stagedHours * 3600),
            filesBefore: Date(timeIntervalSinceNow: -fileMinutes * 60), dryRun: dryRun)
        let verb = dryRun ? "Would remove" : "Removed"
        print(
            "\(verb) \(report.chunkRows) unused chunk rows, \(report.chunkFiles) chunk files and \(report.packs) "
                + "pack files (\(Output.bytes(report.bytesFreed)))")
        if report.deadPackBytes > 0 {
            print("\(Output.bytes(report.deadPackBytes)) in packs still in use belong to no chunk (kept)")
        }
    }
}
