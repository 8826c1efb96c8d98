import ArgumentParser
import TrustMeshModel
import TrustMeshNode
import TrustMeshStore

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "List a patient's studies by NHS number.",
        discussion: """
            The NHS number may be written with spaces or dashes (943 476 5919). An invalid number
            (wrong length, wrong check digit) is refused with the reason.
            """
    )

    @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
    var data: String

    @Option(help: ArgumentHelp("The patient's NHS number.", valueName: "NUMBER"))
    var nhs: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let number: NHSNumber
        do { number = try NHSNumber(nhs) } catch { throw UserError("--nhs: \(error)") }
        let node = try LocalNode(directory: data)
        let studies = try node.store.studies(nhs: number)
        if json {
            print(try Output.json(studies))
            return
        }
        guard !studies.isEmpty else {
            print("No studies held for NHS number \(number.formatted) at \(node.configuration.trust).")
            return
        }
        print(
            "\(studies.count) \(studies.count == 1 ? "study" : "studies") for NHS number \(number.formatted) at \(node.configuration.trust):"
        )
        print(
            Output.column("Date", 11) + Output.column("Mod", 6) + Output.column("Description", 28)
                + Output.column("Accession", 12) + Output.column("Series", 7) + Output.column("Images", 7) + "Size"
        )
        for s in studies {
            print(
                Output.column(Output.date(s.studyDate), 11) + Output.column(s.modalities.joined(separator: "/"), 6)
                    + Output.column(s.description ?? "—", 28) + Output.column(s.accessionNumber ?? "—", 12)
                    + Output.column("\(s.seriesCount)", 7) + Output.column("\(s.instanceCount)", 7)
                    + Output.bytes(s.sizeBytes)
            )
            print("  \(s.studyInstanceUID)")
        }
    }
}
