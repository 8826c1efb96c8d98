import ArgumentParser
import Foundation
import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

struct CareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "care",
        abstract: "Record and list this trust's care relationships (the grounds for fetching imaging).",
        subcommands: [Add.self, List.self]
    )

    struct Target: ParsableArguments {
        @Option(help: ArgumentHelp("A running node's local API, e.g. http://127.0.0.1:8401.", valueName: "URL"))
        var node: String?

        @Option(help: ArgumentHelp("A node's data folder (instead of --node).", valueName: "DIR"))
        var data: String?

        func validate() throws {
            if (node == nil) == (data == nil) { throw ValidationError("give exactly one of --node URL or --data DIR") }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that this trust's clinical staff have started caring for a patient.",
            discussion: """
                The record is signed by this trust's node and travels with every fetch of the \
                patient's imaging from another trust, which shares only while it is current: until the \
                earlier of --expires and the network policy's cap for its kind (by default 365 days for \
                referral, outpatient and mdt, 90 for admission, 72 hours for emergency). Kinds: \
                referral, admission, outpatient, emergency, mdt. An emergency needs --justification, \
                which information governance reviews.

                With --node the running node records it for the clinician signed in there \
                (trustmesh login --node URL): their verified identity, role and trust travel \
                with it. With --data it is recorded by the local operator, naming the \
                operating-system user and no verified clinician: other trusts refuse to share under \
                it (careClinicianUnverified).
                """
        )

        @OptionGroup var target: Target

        @Option(help: ArgumentHelp("The patient's NHS number.", valueName: "NUMBER"))
        var nhs: String

        @Option(help: ArgumentHelp("referral, admission, outpatient, emergency or mdt.", valueName: "KIND"))
        var kind: String

        @Option(help: ArgumentHelp("Why care began, 1–500 characters (required with --data).", valueName: "TEXT"))
        var reason: String?

        @Option(
            help: ArgumentHelp(
                "Why emergency access is needed, 1–1000 characters (an emergency needs one).", valueName: "TEXT"))
        var justification: String?

        @Option(help: ArgumentHelp("Last day it is valid (YYYY-MM-DD).", valueName: "DATE"))
        var expires: String?

        func validate() throws {
        }

        func run() async throws {
            let care: CareRelationship
            if let node = target.node {
                care = try await LocalAPIClient.addCare(
                    node: await NodeLogin.endpoint(node), nhs: nhs, kind: kind, reason: reason,
                    justification: justification, expires: expires)
            } else {
                do {
                    care = try LocalNode(directory: target.data!).addCare(
                        nhs: nhs, kind: kind, reason: reason, justification: justification, expires: expires, by: nil)
                } catch let error as CareInputError {
                    throw UserError(error.description)
                }
            }
            print(
                "Recorded \(care.kind.rawValue) by \(care.clinician) at \(care.trust) for NHS number "
                    + "\(care.nhsNumber.formatted), from \(care.start)"
                    + (care.expiry.map { " until \($0)" } ?? " (no expiry given)")
                    + "; the network's cap for its kind applies")
            if care.clinicianIdentity == nil {
                print(
                    "Note: no verified clinician is named (recorded by the local operator): other trusts will "
                        + "refuse to share under it (careClinicianUnverified).")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List this trust's care relationships.")

        @OptionGroup var target: Target

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            let cares: [CareRelationship]
            if let node = target.node {
                cares = try await LocalAPIClient.care(node: await NodeLogin.endpoint(node))
            } else {
                cares = try LocalNode(directory: target.data!).careRelationships()
            }
            if json {
                print(try Output.json(cares))
                return
            }
            guard !cares.isEmpty else {
                print("No care relationships recorded.")
                return
            }
            for care in cares {
                print(
                    Output.column(care.nhsNumber.formatted, 14) + Output.column(care.kind.rawValue, 12)
                        + Output.column(care.clinician, 24) + Output.column(String(care.start.prefix(10)), 12)
                        + Output.column(care.expiry.map { "until " + $0.prefix(10) } ?? "no expiry", 18)
                        + care.reason)
            }
        }
    }
}
