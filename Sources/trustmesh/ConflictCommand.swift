import ArgumentParser
import Foundation
import TrustMeshNodeCore
import TrustMeshStore

struct ConflictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "List and resolve equivocations: two statements one trust signed that cannot both be true.",
        discussion: """
            Gossip keeps, as evidence, any two index records of one trust with the same sequence and \
            different content, both signed with that trust's key (its key may be stolen); membership \
            and certificate gossip keep theirs here too. Until an operator resolves it, this node \
            stores none of that trust's new index records and lists its studies as they were before \
            the fork. Ask the trust which record its node signed, then resolve. Both statements are \
            kept for good; resolving is audited as equivocationResolved, naming you.

              trustmesh conflicts list --data /var/lib/trustmesh
              trustmesh conflicts resolve --data /var/lib/trustmesh --id 3 \\
                  --note "RRK confirmed #12 is theirs; key rotated (ticket INC-4711)"
            """,
        subcommands: [List.self, Resolve.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the unresolved conflicts (with --all, the resolved ones too).")

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Flag(help: "Include conflicts already resolved.")
        var all = false

        func run() throws {
            let node = try LocalNode(directory: data)
            let conflicts = try all ? node.conflicts() : node.unresolvedConflicts()
            guard !conflicts.isEmpty else {
                print(all ? "No conflicts recorded." : "No unresolved conflicts.")
                return
            }
            for conflict in conflicts {
                let state =
                    conflict.resolution.map {
                        "resolved \($0.at) by \($0.by)\($0.keptSecond ? " (kept the other)" : ""): \($0.note)"
                    } ?? "UNRESOLVED: \(conflict.trust)'s new records are held"
                let (held, other) = conflict.statementSummaries
                print(
                    """
                    #\(conflict.id) \(conflict.kind) of \(conflict.trust), number \(conflict.number), found \
                    \(conflict.detectedAt); \(state)
                      why:   \(conflict.reason)
                      held:  \(held)
                      other: \(other)
                    """)
            }
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a conflict, as the local operator: the trust's new records flow again.",
            discussion: """
                --keep held (the default) leaves the record this node held in its index; --keep other \
                puts the other record in its place (the trust says the other is genuine). Both stay as \
                evidence either way. Works whether or not the node is running.
                """)

        @Option(help: ArgumentHelp("The node's data folder.", valueName: "DIR"))
        var data: String

        @Option(help: ArgumentHelp("The conflict's number, from `conflicts list`.", valueName: "N"))
        var id: Int64

        @Option(help: ArgumentHelp("Why it is resolved: what the trust said, what was checked.", valueName: "TEXT"))
        var note: String

        @Option(help: ArgumentHelp("Which index record stays: held or other.", valueName: "WHICH"))
        var keep: String = "held"

        func run() throws {
            guard let which = ConflictKeep(rawValue: keep) else {
                throw UserError("--keep: say held or other, not “\(keep.prefix(20))”")
            }
            let resolved: LocalNode.Conflict
            do {
                resolved = try LocalNode(directory: data).resolveConflict(
                    id: id, by: LocalNode.localOperator, note: note, keep: which)
            } catch let error as ConflictInputError {
                throw UserError(error.description)
            }
            print(
                "Conflict #\(resolved.id) (\(resolved.kind) of \(resolved.trust), number \(resolved.number)) resolved"
                    + (which == .other ? "; the other record replaced the held one" : "; the held record stays")
                    + ". Both statements are kept as evidence.")
        }
    }
}
