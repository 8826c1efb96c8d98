import ArgumentParser
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

struct OptOutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optout",
        abstract: "Record that a patient has opted out of sharing their imaging.",
        discussion: """
            Publishes a signed opt-out record that gossip carries to every node; each then stops \
            listing and sharing the patient's studies. Trusts keep the imaging they hold for their \
            own care. Works whether or not the node is running (the running node gossips it).
            """
    )

    @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
    var data: String

    @Option(help: ArgumentHelp("The patient's NHS number.", valueName: "NUMBER"))
    var nhs: String

    func run() throws {
        let number: NHSNumber
        do { number = try NHSNumber(nhs) } catch { throw UserError("--nhs: \(error)") }
        let node = try LocalNode(directory: data)
        let record = try node.optOut(nhs: number, by: LocalNode.localOperator)
        print(
            "Opt-out recorded for NHS number \(number.formatted) (record \(record.origin)#\(record.sequence)); every node will stop sharing this patient's imaging."
        )
    }
}
