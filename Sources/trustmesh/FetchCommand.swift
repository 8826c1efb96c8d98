import ArgumentParser
import Foundation
import TrustMeshFetch
import TrustMeshNode
import TrustMeshNodeCore

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Pull a study from the trust that holds it, under a care relationship.",
        discussion: """
            Asks the node at --node to fetch the study from its holder (found in the federated \
            index; --from chooses one when several hold it). The request carries this trust's \
            current care relationship for the patient, signed by the node; the holder shares only \
            if it is current, names the same patient, and the patient has not opted out. Only the \
            chunks this node lacks move, compressed and encrypted, over several connections; every \
            chunk is checked against its hash; the study appears only when complete. An \
            interrupted fetch resumes from what arrived when asked again.

            Exit status 0 when the study is here; 1 when it failed, with the reason (for a refusal, \
            the rule that failed).
            """
    )

    @Option(help: ArgumentHelp("This trust's node, e.g. http://127.0.0.1:8407.", valueName: "URL"))
    var node: String

    @Option(help: ArgumentHelp("The Study Instance UID.", valueName: "UID"))
    var study: String

    @Option(help: ArgumentHelp("The holding trust's ODS code.", valueName: "ODS"))
    var from: String?

    @Flag(help: "Print the final progress report as JSON.")
    var json = false

    func run() async throws {
        let endpoint = await NodeLogin.endpoint(node)
        var progress = try await LocalAPIClient.startFetch(
            node: endpoint, study: study, from: from)
        let line = ProgressLine()
        while progress.state == .requesting || progress.state == .transferring {
            try await Task.sleep(for: .milliseconds(200))
            progress = try await LocalAPIClient.fetchProgress(node: endpoint, id: progress.id)
            let p = progress
            line.update { _ in
                if p.waitingForOtherFetches != nil {
                    return "fetching from \(p.holder): waiting for another fetch that is moving the same images"
                }
                let left = p.secondsLeft.map { String(format: "%.0f s left", $0) } ?? ""
                return "fetching from \(p.holder): \(Output.bytes(p.bytesReceived)) of \(Output.bytes(p.bytesToMove)), "
                    + "\(p.chunksReceived)/\(p.chunksTotal - p.chunksAlreadyHeld) chunks, "
                    + "\(Output.bytes(Int(p.bytesPerSecond)))/s \(left)"
            }
        }
        line.finish()
        if json { print(try Output.json(progress)) }
        guard progress.state == .completed else {
            // A refusal names its rule; anything else (a dropped holder, a full disk) can be resumed.
            let resume =
                progress.chunksReceived > 0
                ? "; the \(progress.chunksReceived) chunk(s) received are kept and the same command resumes from them"
                : ""
            throw UserError(
                "fetch of \(study) failed: \(progress.error ?? "unknown reason")"
                    + (progress.rule.map { " [rule: \($0)]" } ?? resume))
        }
        if !json {
            print(
                "Fetched study \(study) from \(progress.holder) (\(Output.bytes(progress.studyBytes))): moved "
                    + "\(Output.bytes(progress.bytesReceived)) in \(progress.chunksReceived) chunks, "
                    + "\(progress.chunksAlreadyHeld) of \(progress.chunksTotal) chunks already held here, "
                    + String(format: "%.2f s", progress.elapsedSeconds))
        }
    }
}
