import Foundation

/// A person the trust's identity provider signed in (OpenID Connect): whom care relationships and
/// audit entries name.
///
/// ``issuer`` and ``subject`` together identify the person for good (the provider's `iss` and
/// `sub` claims); ``name`` is only for display. ``organisation`` is the ODS code of the trust at
/// which the person holds ``roleCode`` (NHS CIS2's `nhsid_nrbac_roles[].org_code` and `role_code`).
///
/// In a ``CareRelationship`` it is signed by the caring trust's node as part of the relationship
/// (see <doc:CanonicalEncoding>); a holder's sharing policy refuses a relationship whose person is
/// missing, has an empty issuer, subject or name, or holds the role at another trust than the
/// relationship's.
///
/// ```swift
/// let shah = Person(
///     issuer: "https://am.nhsidentity.spineservices.nhs.uk/openam/oauth2/realms/root/realms/oidc",
///     subject: "910000000001", name: "Dr Priya Shah", roleCode: "S8000:G8000:R8000",
///     organisation: try TrustID("RKB"), registration: "GMC 7654321")
/// ```
public struct Person: Codable, Sendable, Hashable {
    /// The identity provider's issuer identifier (the ID token's `iss`), at most 512 characters.
    public var issuer: String
    /// The person's identifier at that provider (`sub`), at most 512 characters.
    public var subject: String
    /// The display name, trimmed, 1 to 128 characters.
    public var name: String
    /// The role the person acts in, e.g. `S8000:G8000:R8000` (CIS2 `role_code`); empty if the
    /// provider gives none. At most 256 characters.
    public var roleCode: String
    /// The ODS code of the trust at which the role is held.
    public var organisation: TrustID
    /// The professional registration, e.g. `GMC 7654321`, when the provider gives one: trimmed,
    /// 1 to 64 characters.
    public var registration: String?

    /// A person as the identity provider describes them.
    /// - Parameters:
    ///   - issuer: The provider's `iss`.
    ///   - subject: The person's `sub` there.
    ///   - name: The display name.
    ///   - roleCode: The role code the person acts in (empty if none).
    ///   - organisation: The ODS code the role is held at.
    ///   - registration: The professional registration, if the provider gives one.
    public init(
        issuer: String, subject: String, name: String, roleCode: String, organisation: TrustID,
        registration: String? = nil
    ) {
        self.issuer = issuer
        self.subject = subject
        self.name = name
        self.roleCode = roleCode
        self.organisation = organisation
        self.registration = registration
    }

    /// The first field not in its documented form, and why; `nil` if all are.
    ///
    /// Empty issuer and subject are forms a relationship may carry (the sharing policy refuses them
    /// by name); lengths and white space are not.
    package var formProblem: String? {
        if issuer.count > 512 { return "clinicianIdentity.issuer is longer than 512 characters" }
        if subject.count > 512 { return "clinicianIdentity.subject is longer than 512 characters" }
        if name.trimmingCharacters(in: .whitespacesAndNewlines) != name {
            return "clinicianIdentity.name has leading or trailing white space"
        }
        if !(1...128).contains(name.count) { return "clinicianIdentity.name must be 1 to 128 characters" }
        if roleCode.count > 256 { return "clinicianIdentity.roleCode is longer than 256 characters" }
        if let registration {
            if registration.trimmingCharacters(in: .whitespacesAndNewlines) != registration {
                return "clinicianIdentity.registration has leading or trailing white space"
            }
            if !(1...64).contains(registration.count) {
                return "clinicianIdentity.registration must be 1 to 64 characters"
            }
        }
        return nil
    }
}

/// Who did something, as an audit entry records it: a signed-in person, or a system (a DICOM AE,
/// a peer trust, the node itself, gossip, a local operator's command).
public enum Actor: Sendable, Hashable {
    /// A person the identity provider signed in, and the short, non-secret handle of the session
    /// they acted in (never the session cookie's value), if any.
    case person(Person, session: String?)
    /// A system, by a name that says which: `DICOM AE PACS1 at 10.0.0.5:4242`, `peer RRK`, `node`,
    /// `gossip`, `operating-system user alice (local operator)`.
    case system(String)

    /// The name an audit entry's `actor` field carries: the person's display name, or the system's
    /// name.
    public var displayName: String {
        switch self {
        case .person(let person, _): person.name
        case .system(let name): name
        }
    }

    /// The person, if a person acted.
    public var person: Person? {
        if case .person(let person, _) = self { return person }
        return nil
    }
}

extension Actor {
    /// The subject keys that say who acted, for an audit entry: ``AuditEntry/SubjectKey/actorKind``
    /// (`person` or `system`), and for a person `actorIssuer`, `actorSubject`, `actorRole`,
    /// `actorOrganisation`, `actorRegistration` (when known) and `session` (when known).
    public var auditSubject: [AuditEntry.SubjectKey: String] {
        switch self {
        case .system:
            return [.actorKind: "system"]
        case .person(let person, let session):
            var subject: [AuditEntry.SubjectKey: String] = [
                .actorKind: "person", .actorIssuer: person.issuer, .actorSubject: person.subject,
                .actorRole: person.roleCode, .actorOrganisation: person.organisation.code,
            ]
            if let registration = person.registration { subject[.actorRegistration] = registration }
            if let session { subject[.session] = session }
            return subject
        }
    }
}

extension CanonicalEncoder {
    /// A person as the signed records carry one (a care relationship's clinician, an opt-out's
    /// recorder): issuer, subject, name, role code, organisation's ODS code, optional registration.
    mutating func append(_ person: Person) {
        append(person.issuer)
        append(person.subject)
        append(person.name)
        append(person.roleCode)
        append(person.organisation.code)
        append(optional: person.registration)
    }
}
