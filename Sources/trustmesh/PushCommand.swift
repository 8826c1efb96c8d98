import ArgumentParser
import Foundation
import TrustMeshNode

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push a study held here to a named clinician at another trust (an emergency transfer).",
        discussion: """
            The node at --node (signed in: trustmesh login --node URL) signs a push grant for the \
            study, the receiving trust, the clinician named there and the reason, audits it \
            (studyPushed) and sends it to the receiving trust's node. That node accepts pushes only \
            from trusts it allows (node run --accept-push-from), only of kind emergency with a \
            reason; it fetches the study at once under the grant (verified, deduplicated, visible \
            whole or not at all), lists it in its page's inbox and e-mails its notice address. Both \
            trusts audit the push as a disclosure and list it on their information governance page. \
            A refusal names the rule and is audited on both sides.
            """
    )

    @Option(help: ArgumentHelp("The running node holding the study, e.g. http://127.0.0.1:8401.", valueName: "URL"))
    var node: String

    @Option(help: ArgumentHelp("The study's StudyInstanceUID.", valueName: "UID"))
    var study: String

    @Option(help: ArgumentHelp("The receiving trust's ODS code.", valueName: "ODS"))
    var to: String

    @Option(help: ArgumentHelp("The clinician at the receiving trust it is for (1–128 characters).", valueName: "NAME"))
    var clinician: String

    @Option(
        help: ArgumentHelp("Why it is pushed, 1–1000 characters: information governance reviews it.", valueName: "TEXT")
    )
    var reason: String

    @Option(help: ArgumentHelp("The push's kind; receiving trusts accept only emergency.", valueName: "KIND"))
    var kind = "emergency"

    func run() async throws {
        do {
            let accepted = try await LocalAPIClient.push(
                node: await NodeLogin.endpoint(node), study: study, to: to, clinician: clinician, reason: reason,
                kind: kind)
            print(
                "Pushed study \(accepted.studyUID) to \(accepted.receiver) (push \(accepted.pushID)): \(accepted.message)"
            )
        } catch let error as LocalAPIError {
            throw UserError("push refused: \(error.description)")
        }
    }
}
