public import Foundation
public import TrustMeshModel
import TrustMeshStore

/// A care relationship's input from a user was not valid.
public struct CareInputError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension LocalNode {
    /// Records, signed by this node, that its clinical staff have started delivering care to a
    /// patient: the ticket a fetch must carry.
    /// - Parameters:
    ///   - kind: referral, admission, outpatient, emergency or mdt.
    ///   - expires: `YYYY-MM-DD` (end of that day, UTC) or an ISO-8601 UTC time; nil for none stated.
    public func addCare(nhs: String, clinician: String, kind: String, expires: String?, now: Date = Date()) throws
        -> CareRelationship
    {
        let number: NHSNumber
        do { number = try NHSNumber(nhs) } catch { throw CareInputError(description: "nhs: \(error)") }
        guard let kind = CareRelationship.Kind(rawValue: kind.lowercased()) else {
            throw CareInputError(
                description: "kind: '\(kind)' is not one of "
                    + CareRelationship.Kind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let name = clinician.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...128).contains(name.count) else {
            throw CareInputError(description: "clinician: give the clinician's name (1 to 128 characters)")
        }
        var expiry: String?
        if let expires {
            guard let parsed = CareTime.parseExpiry(expires) else {
                throw CareInputError(description: "expires: '\(expires)' is not a date (YYYY-MM-DD)")
            }
            guard parsed > now else { throw CareInputError(description: "expires: \(expires) is in the past") }
            expiry = CareTime.format(parsed)
        }
        let draft = CareRelationship.Draft(
            id: UUID().uuidString.lowercased(), trust: configuration.trust, nhsNumber: number, clinician: name,
            kind: kind, start: CareTime.format(now), expiry: expiry)
        let care = draft.signed(by: try signingKey())
        try store.care.add(care)
        try audit(
            .careAdded, actor: care.clinician, subject: [.careID: care.id, .nhsNumber: care.nhsNumber.digits],
            details: Self.auditJSON(care))
        return care
    }
}

extension LocalNode {
    /// This trust's care relationships, newest first.
    public func careRelationships() throws -> [CareRelationship] { try store.care.all() }
}
