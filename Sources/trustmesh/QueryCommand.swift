import ArgumentParser
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "List a patient's studies at every trust in the network, by NHS number.",
        discussion: """
            Answered from the node's own copy of the federated index: no other trust is asked, so \
            it is as fast with 50 trusts as with 2. Ask a running node with --node, or read a \
            node's folder directly with --data.

            The NHS number may be written with spaces or dashes (943 476 5919). An invalid number \
            (wrong length, wrong check digit) is refused with the reason. A patient who has opted \
            out of sharing is reported as such, with no studies.
            """
    )

    @Option(help: ArgumentHelp("A running node's local API, e.g. http://127.0.0.1:8401.", valueName: "URL"))
    var node: String?

    @Option(help: ArgumentHelp("A node's data folder (instead of --node).", valueName: "DIR"))
    var data: String?

    @Option(help: ArgumentHelp("The patient's NHS number.", valueName: "NUMBER"))
    var nhs: String

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if (node == nil) == (data == nil) { throw ValidationError("give exactly one of --node URL or --data DIR") }
    }

    func run() async throws {
        let number: NHSNumber
        do { number = try NHSNumber(nhs) } catch { throw UserError("--nhs: \(error)") }
        let result: FederatedQueryResult
        if let node {
            result = try await LocalAPIClient.query(node: await NodeLogin.endpoint(node), nhs: number)
        } else {
            result = try LocalNode(directory: data!).query(nhs: number, by: LocalNode.localOperator)
        }
        if json {
            print(try Output.json(result))
            return
        }
        print(Self.render(result, nhs: number))
    }

    static func render(_ result: FederatedQueryResult, nhs: NHSNumber) -> String {
        if result.optedOut {
            return "NHS number \(nhs.formatted): the patient has opted out of sharing imaging; no studies are listed."
        }
        guard !result.studies.isEmpty else {
            return "No studies anywhere in the network for NHS number \(nhs.formatted)."
        }
        let count = result.studies.count
        var lines = ["\(count) \(count == 1 ? "study" : "studies") for NHS number \(nhs.formatted) across the network:"]
        lines.append(
            Output.column("Date", 11) + Output.column("Trust", 6) + Output.column("Mod", 6)
                + Output.column("Description", 28) + Output.column("Accession", 11) + Output.column("Images", 7)
                + Output.column("Size", 10) + "Here")
        for s in result.studies {
            lines.append(
                Output.column(Output.date(s.studyDate), 11) + Output.column(s.holder, 6)
                    + Output.column(s.modalities.joined(separator: "/"), 6) + Output.column(s.description ?? "—", 28)
                    + Output.column(s.accessionNumber ?? "—", 11) + Output.column("\(s.instanceCount)", 7)
                    + Output.column(Output.bytes(s.sizeBytes), 10) + (s.localCopy ? "yes" : "no"))
            lines.append("  \(s.studyInstanceUID)" + (s.holderName.map { "  (\($0))" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
