public import Foundation
public import TrustMeshModel
import TrustMeshStore

/// A care relationship's input from a user was not valid; ``description`` starts with the field's
/// name (`nhs:`, `kind:`, `reason:`, `justification:`, `expires:`, `clinician:`, `careID:`).
public struct CareInputError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension LocalNode {
    /// Records, signed by this node, that one of its clinicians has started delivering care to a
    /// patient: the ticket a fetch must carry. Audited as `careAdded` (actor the person, or the
    /// local operator; subject `careID`, `nhsNumber`, `careKind`; details the relationship's JSON,
    /// with its reason and any justification).
    ///
    /// - Parameters:
    ///   - nhs: The patient's NHS number as typed.
    ///   - kind: referral, admission, outpatient, emergency or mdt.
    ///   - reason: Why care began, 1 to 500 characters (trimmed); required.
    ///   - justification: Why emergency access is needed, 1 to 1000 characters (trimmed); required
    ///     for an emergency. Empty counts as none.
    ///   - expires: `YYYY-MM-DD` (end of that day, UTC) or an ISO-8601 UTC time; nil for none stated
    ///     (the network policy's cap for the kind applies either way).
    ///   - person: The signed-in clinician who records it, whose role must be held at this trust;
    ///     `nil` for the local operator (`trustmesh care add --data`): the relationship then has no
    ///     clinician identity, names ``localOperatorName`` as its clinician, and holders refuse it
    ///     (`careClinicianUnverified`).
    ///   - session: The person's short session handle, for the audit entry.
    ///   - now: The start of care.
    /// - Returns: The signed relationship, stored.
    /// - Throws: ``CareInputError`` naming the field that is not valid.
    public func addCare(
        nhs: String, kind: String, reason: String?, justification: String? = nil, expires: String?,
        by person: Person?, session: String? = nil, now: Date = Date()
    ) throws -> CareRelationship {
        let number: NHSNumber
        do { number = try NHSNumber(nhs) } catch { throw CareInputError(description: "nhs: \(error)") }
        guard let kind = CareRelationship.Kind(rawValue: kind.lowercased()) else {
            throw CareInputError(
                description: "kind: '\(kind.prefix(32))' is not one of "
                    + CareRelationship.Kind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let why = (reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...500).contains(why.count) else {
            throw CareInputError(description: "reason: say why care began (1 to 500 characters)")
        }
        let justified = justification?.trimmingCharacters(in: .whitespacesAndNewlines)
        let stated = justified?.isEmpty == false ? justified : nil
        if let stated, stated.count > 1000 {
            throw CareInputError(description: "justification: at most 1000 characters")
        }
        if kind == .emergency, stated == nil {
            throw CareInputError(
                description: "justification: an emergency care relationship needs a written justification "
                    + "(1 to 1000 characters), which information governance reviews")
        }
        var identity: Person?
        let clinician: String
        if var person {
            person.name = person.name.trimmingCharacters(in: .whitespacesAndNewlines)
            person.registration = person.registration?.trimmingCharacters(in: .whitespacesAndNewlines)
            if person.registration?.isEmpty == true { person.registration = nil }
            guard person.organisation == configuration.trust else {
                throw CareInputError(
                    description: "clinician: the signed-in role is held at \(person.organisation), not at "
                        + "\(configuration.trust); only this trust's clinicians record its care relationships")
            }
            if let problem = person.formProblem {
                throw CareInputError(
                    description: "clinician: \(problem.replacingOccurrences(of: "clinicianIdentity.", with: ""))")
            }
            identity = person
            clinician = person.name
        } else {
            clinician = String(Self.localOperatorName.prefix(128))
        }
        var expiry: String?
        if let expires {
            guard let parsed = CareTime.parseExpiry(expires) else {
                throw CareInputError(description: "expires: '\(expires.prefix(32))' is not a date (YYYY-MM-DD)")
            }
            guard parsed > now else { throw CareInputError(description: "expires: \(expires) is in the past") }
            expiry = CareTime.format(parsed)
        }
        let draft = CareRelationship.Draft(
            id: UUID().uuidString.lowercased(), trust: configuration.trust, nhsNumber: number, clinician: clinician,
            clinicianIdentity: identity, kind: kind, reason: why, start: CareTime.format(now), expiry: expiry,
            justification: stated)
        let care = draft.signed(by: try signingKey())
        try store.care.add(care)
        let actor: Actor = identity.map { .person($0, session: session) } ?? Self.localOperator
        try audit(
            .careAdded, actor: actor,
            subject: [.careID: care.id, .nhsNumber: care.nhsNumber.digits, .careKind: care.kind.rawValue],
            details: Self.auditJSON(care))
        return care
    }

    /// PROVISIONAL (issue 13): the person a door names until sign-in gives it a verified one, built
    /// from a name typed into a form or query: issuer `urn:trustmesh:unverified-typed-name`, subject
    /// and name the typed name, no role, this trust. Holders accept it (its fields are not empty),
    /// so it is no better than the free text it replaces; it must not outlive the doors' sign-in.
    package func provisionalPerson(typedName: String) -> Person {
        Person(
            issuer: "urn:trustmesh:unverified-typed-name", subject: typedName, name: typedName, roleCode: "",
            organisation: configuration.trust, registration: nil)
    }

    /// PROVISIONAL (issue 13): who a door's audit entry names until sign-in: the
    /// ``provisionalPerson(typedName:)`` when a name was typed (`?clinician=`, a form field), else
    /// the door's system name as before (`local API user`, `web page user`, `DICOMweb client`).
    package func provisionalActor(typedName: String?, otherwise system: String) -> Actor {
        guard let typedName, !typedName.isEmpty else { return .system(system) }
        return .person(provisionalPerson(typedName: typedName), session: nil)
    }
}

extension LocalNode {
    /// This trust's care relationships, newest first.
    public func careRelationships() throws -> [CareRelationship] { try store.care.all() }
}
