import Foundation
package import TrustMeshModel
import TrustMeshStore

extension LocalNode {
    /// Appends an entry to the node's signed, hash-chained audit log (docs/AUDIT-FORMAT.md §5
    /// lists the kinds and their subjects).
    ///
    /// Governance events must not be lost silently, but an audit failure must not hide the event
    /// itself from the operator either: a failure is written to standard error and rethrown to the
    /// caller, which decides (peer-facing paths refuse; see the call sites).
    package func audit(
        _ kind: AuditEntry.Kind, actor: String, subject: [AuditEntry.SubjectKey: String] = [:], details: String? = nil
    ) throws {
        let draft = AuditEntry.Draft(
            trust: configuration.trust, time: CareTime.format(Date()), kind: kind, actor: actor, subject: subject,
            details: details)
        do {
            _ = try store.audit.append(draft, key: try cachedSigningKey())
        } catch {
            FileHandle.standardError.write(Data("audit: could not append \(kind.rawValue): \(error)\n".utf8))
            throw error
        }
    }

    /// The JSON of a value for an entry's `details`.
    package static func auditJSON(_ value: some Encodable) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }
}
