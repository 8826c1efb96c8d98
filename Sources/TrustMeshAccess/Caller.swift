package import Hummingbird
import HummingbirdAuth
package import TrustMeshModel

/// Who is asking, as a door's guard established it.
package struct Caller: Sendable {
    /// The signed-in person; nil for a system.
    package var person: Person?
    /// A system's client id (client-credentials tokens); nil for a person.
    package var system: String?
    /// The roles held at this trust.
    package var roles: Set<Role>
    /// The bearer token's scopes (empty for a page session).
    package var scopes: Set<String>
    /// The page session, when the caller came with one.
    package var session: Session?

    /// Who the audit log names.
    package var actor: Actor {
        if let person { return .person(person, session: session?.handle) }
        return .system("system \(system ?? "unknown")")
    }

    /// How pages and messages name the caller.
    package var displayName: String { person?.name ?? "system \(system ?? "unknown")" }

    package func may(_ permission: Permission) -> Bool {
        roles.contains { Permission.grants[$0]?.contains(permission) == true }
    }
}

extension Caller {
    /// The caller of the request being answered, for the code that builds its pages and audit
    /// entries below the handler (set by ``CallerMiddleware``, after the guard).
    @TaskLocal package static var current: Caller?
}

/// Makes the guard's caller ``Caller/current`` while the rest of the request is answered.
package struct CallerMiddleware: RouterMiddleware {
    package typealias Context = AccessContext
    package init() {}
    package func handle(
        _ request: Request, context: AccessContext, next: (Request, AccessContext) async throws -> Response
    ) async throws -> Response {
        try await Caller.$current.withValue(context.identity) { try await next(request, context) }
    }
}

/// The local listener's request context: Hummingbird's, plus the caller its guard established.
package struct AccessContext: AuthRequestContext, RequestContext {
    package var coreContext: CoreRequestContextStorage
    package var identity: Caller?

    package init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
    }
}

extension RoleMap {
    /// The person (or system) and roles at `trust` that a verified token's claims give.
    /// - Returns: nil person and nil system only for a token that names neither.
    package func resolve(_ claims: TokenClaims, issuer: String, trust: TrustID) -> (
        person: Person?, system: String?, roles: Set<Role>
    ) {
        let subject = claims.sub ?? ""
        let isPerson = claims.nhsid_nrbac_roles != nil || claims.name != nil
        if !isPerson, let client = claims.client_id ?? (subject.isEmpty ? nil : subject) {
            return (nil, client, Set((systems[client] ?? []).compactMap(Role.init(rawValue:))))
        }
        var entries = claims.nhsid_nrbac_roles ?? []
        if let selected = claims.selected_roleid {
            entries = entries.filter { $0.person_roleid == selected }
        }
        entries = entries.filter { $0.org_code?.uppercased() == trust.code }
        var roles: Set<Role> = []
        var roleCode = ""
        for entry in entries {
            guard let code = entry.role_code, let last = code.split(separator: ":").last,
                let role = self.roles[String(last)].flatMap(Role.init(rawValue:))
            else { continue }
            roles.insert(role)
            if roleCode.isEmpty { roleCode = code }
        }
        let registration = claims.professional_registration.flatMap { registration -> String? in
            guard let number = registration.number, !number.isEmpty else { return nil }
            return [registration.body, number].compactMap { $0 }.joined(separator: " ")
        }
        let person = Person(
            issuer: issuer, subject: subject, name: claims.name ?? subject, roleCode: roleCode, organisation: trust,
            registration: registration)
        return (person, nil, roles)
    }
}
