import ArgumentParser
import Foundation
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshStore

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest DICOM files and folders into the node's store.",
        discussion: """
            Folders are read recursively. Each file is parsed and checked before any of it is \
            stored; a file that is not valid DICOM, or lacks its UIDs, or names a different patient \
            from the rest of its study, is reported with the reason and leaves nothing behind, while \
            the good files go in. Bytes already held (the same images, a re-sent study) are never \
            stored twice. Studies whose PatientID (or an NHS-issued Other Patient ID) is not a valid \
            NHS number are stored but marked unmatched, and are never shared.

            Every Study, Series, SOP Instance and SOP Class UID must be a valid UID (digits and \
            dots, at most 64 characters). A file whose series or instance this node already holds \
            in another study is refused: nothing is ever re-filed. A file with other bytes under a \
            SOP Instance UID of the same study is a correction: it replaces the instance, is \
            audited with the old and new manifest hashes, and the study's index record is \
            republished.

            Exit status: 0 when every file went in, 2 when some files were refused, 1 on an error \
            of the node itself (disk, catalogue).
            """
    )

    @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
    var data: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Argument(help: ArgumentHelp("DICOM files or folders.", valueName: "PATH"))
    var paths: [String]

    func validate() throws {
        if paths.isEmpty { throw ValidationError("name at least one file or folder to ingest") }
    }

    func run() async throws {
        let node = try LocalNode(directory: data)
        let line = ProgressLine()
        // The CLI runs as the trust's own operator: the one who may correct a held instance.
        let (report, published) = try await node.ingest(
            paths: paths, actor: LocalNode.localOperator, mayCorrect: true
        ) { p in
            line.update { elapsed in
                let rate = elapsed > 0 ? Double(p.bytesRead) / elapsed : 0
                return "ingesting \(p.filesDone)/\(p.filesTotal) files  \(Output.bytes(p.bytesRead)) read  "
                    + "\(Output.bytes(p.bytesStored)) stored  \(Output.bytes(Int(rate)))/s"
                    + (p.failures > 0 ? "  \(p.failures) refused" : "")
            }
        }
        line.finish()
        if json {
            print(try Output.json(report))
        } else {
            printSummary(report)
            if !published.isEmpty {
                print("  published \(published.count) index record(s) for the network to gossip")
            }
        }
        if !report.failures.isEmpty { throw ExitCode(2) }
    }

    private func printSummary(_ r: IngestReport) {
        print(
            "Ingested \(r.instancesIngested) instances in \(r.studies.count) "
                + (r.studies.count == 1 ? "study" : "studies")
                + " (\(r.instancesAdded) new, \(r.instancesReplaced) replaced, \(r.instancesUnchanged) already held)"
        )
        let ratio = r.bytesStored == 0 ? "nothing new to store" : String(format: "%.2f× reduction", r.dedupRatio)
        print("  read \(Output.bytes(r.bytesRead)), stored \(Output.bytes(r.bytesStored)) new (\(ratio))")
        for correction in r.corrections {
            print(
                "  corrected \(correction.sopInstanceUID) (manifest \(correction.oldManifestHash.prefix(16))… → "
                    + "\(correction.newManifestHash.prefix(16))…)")
        }
        if r.skipped > 0 { print("  skipped \(r.skipped) DICOMDIR index file(s)") }
        if !r.unmatchedStudies.isEmpty {
            print("  \(r.unmatchedStudies.count) unmatched (no valid NHS number; stored, never shared):")
            for uid in r.unmatchedStudies { print("    \(uid)") }
        }
        if !r.failures.isEmpty {
            print("  \(r.failures.count) file(s) refused:")
            for failure in r.failures { print("    \(failure.reason)") }
        }
    }
}
