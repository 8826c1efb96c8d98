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
                patient's imaging from another trust, which shares only while it is current. Kinds: \
                referral, admission, outpatient, emergency, mdt. Without --expires it counts for at \
                most a year from today.
                """
        )

        @OptionGroup var target: Target

        @Option(help: ArgumentHelp("The patient's NHS number.", valueName: "NUMBER"))
        var nhs: String

        @Option(help: ArgumentHelp("The clinician delivering care.", valueName: "NAME"))
        var clinician: String

        @Option(help: ArgumentHelp("referral, admission, outpatient, emergency or mdt.", valueName: "KIND"))
        var kind: String

        @Option(help: ArgumentHelp("Last day it is valid (YYYY-MM-DD).", valueName: "DATE"))
        var expires: String?

        func run() async throws {
            let care: CareRelationship
            if let node = target.node {
                care = try await LocalAPIClient.addCare(
                    node: await NodeLogin.endpoint(node), nhs: nhs, clinician: clinician, kind: kind, expires: expires)
            } else {
                do {
                    care = try LocalNode(directory: target.data!).addCare(
                        nhs: nhs, clinician: clinician, kind: kind, expires: expires)
                } catch let error as CareInputError {
                    throw UserError(error.description)
                }
            }
            print(
                "Recorded \(care.kind.rawValue) by \(care.clinician) at \(care.trust) for NHS number "
                    + "\(care.nhsNumber.formatted), from \(care.start)"
                    + (care.expiry.map { " until \($0)" } ?? " (no expiry given: valid for up to a year)"))
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
                        + (care.expiry.map { "until " + $0.prefix(10) } ?? "no expiry"))
            }
        }
    }
}
