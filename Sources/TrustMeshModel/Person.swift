/// A person the trust's identity provider signed in (OpenID Connect): what care relationships and
/// audit entries name.
public struct Person: Codable, Sendable, Hashable {
    /// The provider's `iss`.
    public var issuer: String
    /// The provider's `sub` for the person.
    public var subject: String
    /// The display name.
    public var name: String
    /// The role code, e.g. `S8000:G8000:R8000` (CIS2's `role_code`).
    public var roleCode: String
    /// The ODS code the role is held at.
    public var organisation: TrustID
    /// The professional registration, e.g. `GMC 7654321`, when the provider gives one.
    public var registration: String?

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
}

/// Who did something.
public enum Actor: Sendable, Hashable {
    /// A signed-in person; `session` is a short non-secret session handle, never the cookie value.
    case person(Person, session: String?)
    /// A named system: a DICOM AE, a peer, a feed, the node itself.
    case system(String)
}
