import ArgumentParser
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshStore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a study's DICOM files back out, byte-identical to what was ingested.",
        discussion: """
            Files are written as OUT/<SeriesInstanceUID>/<SOPInstanceUID>.dcm. Every chunk is \
            checked against its hash first; a file appears whole or not at all. Existing files are \
            never overwritten. The export is audited (kind `export`, naming the operating-system \
            user, the patient's NHS number and the study) before the first file is written; if the \
            entry cannot be written, nothing is.
            """
    )

    @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
    var data: String

    @Option(help: ArgumentHelp("The Study Instance UID.", valueName: "UID"))
    var study: String

    @Option(help: ArgumentHelp("Folder to write into (created if missing).", valueName: "OUT"))
    var out: String

    func run() throws {
        let node = try LocalNode(directory: data)
        let report = try node.export(studyUID: study, to: out, by: LocalNode.localOperator)
        print("Exported \(report.files.count) files (\(Output.bytes(report.bytes))) to \(out)")
    }
}
