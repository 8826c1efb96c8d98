import ArgumentParser
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

struct OptOutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optout",
        abstract: "Record that a patient has opted out of sharing their imaging, or withdraw it.",
        discussion: """
            Publishes a signed opt-out record that gossip carries to every node; each then stops \
            listing and sharing the patient's studies. Trusts keep the imaging they hold for their \
            own care. Only a trust that has announced imaging for the patient, or holds a current \
            care relationship for them recorded by a clinician signed in there, may record one: \
            every node refuses (and audits) an opt-out from any other trust. --withdraw publishes a \
            withdrawal; the latest record by issue time decides (equal times: the greater ODS code).

            With --node the running node records it for the person signed in there (trustmesh login \
            --node URL), who is named in the signed record. With --data it is recorded by the local \
            operator (the operating-system user); it works whether or not the node is running.
            """
    )

    @OptionGroup var target: CareCommand.Target

    @Option(help: ArgumentHelp("The patient's NHS number.", valueName: "NUMBER"))
    var nhs: String

    @Option(
        help: ArgumentHelp(
            "Where the patient's wish is written down: a form or letter reference, 1–200 characters.",
            valueName: "TEXT"))
    var reference: String

    @Flag(help: "Withdraw the patient's opt-out instead of recording one.")
    var withdraw = false

    func run() async throws {
        let number: NHSNumber
        do { number = try NHSNumber(nhs) } catch { throw UserError("--nhs: \(error)") }
        let record: IndexRecord
        if let node = target.node {
            record = try await LocalAPIClient.optOut(
                node: await NodeLogin.endpoint(node), nhs: number.digits, reference: reference, withdraw: withdraw)
        } else {
            do {
                record = try LocalNode(directory: target.data!).recordOptOut(
                    nhs: number, withdraw: withdraw, expression: reference, by: LocalNode.localOperator)
            } catch let error as OptOutInputError {
                throw UserError(error.description)
            }
        }
        let what = withdraw ? "Opt-out withdrawn" : "Opt-out recorded"
        let effect =
            withdraw
            ? "every node will share this patient's imaging again under care relationships"
            : "every node will stop sharing this patient's imaging"
        print(
            "\(what) for NHS number \(number.formatted) by \(record.statement?.recordedBy ?? "?") "
                + "(record \(record.origin)#\(record.sequence), \(record.issuedAt)); \(effect).")
    }
}
