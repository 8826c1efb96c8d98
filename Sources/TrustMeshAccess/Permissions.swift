public import HTTPTypes

/// What a person or system may be, at this trust: roles come from the identity provider's claims
/// through the ``RoleMap``.
package enum Role: String, Codable, CaseIterable, Sendable, Comparable {
    /// Searches, views, records care relationships, fetches.
    case clinician
    /// Runs the node: status, the operator page, metrics, the ingest doors.
    case `operator`
    /// Information governance: the audit trail, exports and emergency reviews.
    case informationGovernance
    /// A system feed (a PAS, an EPR) that records care relationships for its clinicians.
    case careFeed
    /// The hospital's integration engine (or PAS, RIS) telling the node of appointments and imaging
    /// orders through the FHIR feed door; a system only (``AccessRule/systemsOnly``).
    case hospitalFeed

    package static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }

    /// How a page names the role.
    package var label: String {
        switch self {
        case .clinician: "clinician"
        case .operator: "operator"
        case .informationGovernance: "information governance"
        case .careFeed: "care feed (system)"
        case .hospitalFeed: "hospital feed (system)"
        }
    }
}

/// One thing a door lets a caller do. Deny by default: a caller may do exactly what
/// ``Permission/grants`` gives its roles.
package enum Permission: String, CaseIterable, Sendable {
    /// Search the federated index for a patient (query, page, priors, QIDO, FHIR search).
    case search
    /// View studies held here (study page, thumbnails, WADO, fetch progress).
    case view
    /// Record a care relationship.
    case recordCare
    /// Start a fetch from another trust.
    case fetch
    /// Status, the operator page, every fetch.
    case status
    /// Prometheus metrics.
    case metrics
    /// Store studies (STOW-RS).
    case ingest
    /// List studies without naming a patient (bulk QIDO).
    case listAll
    /// The audit trail and emergency reviews.
    case audit
    /// Tell the node of appointments and imaging orders (the FHIR feed door: `Appointment`,
    /// `ServiceRequest`, Subscription notifications), which the pre-fetch rules act on.
    case feed

    /// The permission table (docs/ARCHITECTURE.md, "Who may do what").
    package static let grants: [Role: Set<Permission>] = [
        .clinician: [.search, .view, .recordCare, .fetch],
        .operator: [.status, .metrics, .ingest, .listAll],
        .informationGovernance: [.audit],
        .careFeed: [.recordCare],
        .hospitalFeed: [.feed],
    ]

    /// The roles that hold this permission.
    package var roles: [Role] { Role.allCases.filter { Permission.grants[$0]?.contains(self) == true } }

    /// The SMART-style scope a bearer token must carry for this permission, as
    /// `user/RESOURCE.ACTIONS` (a person) or `system/RESOURCE.ACTIONS` (a system); nil: the role suffices.
    package var scope: String? {
        switch self {
        case .search, .view, .listAll: "ImagingStudy.rs"
        case .fetch, .ingest: "ImagingStudy.c"
        case .recordCare: "EpisodeOfCare.c"
        case .status, .metrics, .audit: nil
        // Each feed route names its resource's scope (`AccessRule/scope`); a notification's entries
        // are checked one by one in the door.
        case .feed: nil
        }
    }
}

/// Which door a route belongs to: how a caller proves who it is there.
package enum Door: String, Sendable {
    /// The page: a session cookie; state-changing requests carry the CSRF token and our Origin.
    case page
    /// The JSON API, DICOMweb, FHIR, metrics: a bearer access token, never a cookie.
    case program
    /// Anyone: the sign-in routes, assets, health.
    case open
}

/// What a route needs: its door and, unless open, the permission (or, where a route serves two
/// jobs, either of two).
package struct AccessRule: Sendable, Hashable {
    package var door: Door
    package var permission: Permission?
    /// A second permission that also admits the caller (the door then decides which job it does).
    package var alternative: Permission? = nil
    /// The scope this route needs instead of its permission's (``Permission/scope``), e.g.
    /// `Appointment.c` for `POST /fhir/Appointment`; nil: the permission's.
    package var scope: String? = nil
    /// Whether only a system (a client-credentials token) may use the route: a person's token or
    /// session is refused whatever roles it holds (the feed door: what a hospital system says).
    package var systemsOnly = false

    /// Whether a caller holding `roles` passes this rule's permission check.
    package func admits(_ roles: Set<Role>) -> Bool {
        let granted = roles.reduce(into: Set<Permission>()) { $0.formUnion(Permission.grants[$1] ?? []) }
        guard let permission else { return true }
        return granted.contains(permission) || alternative.map(granted.contains) == true
    }

    package static let open = AccessRule(door: .open, permission: nil)
    package static func page(_ permission: Permission) -> AccessRule { AccessRule(door: .page, permission: permission) }
    package static func program(_ permission: Permission) -> AccessRule {
        AccessRule(door: .program, permission: permission)
    }
    /// A program route only a system may use, needing `scope` (``scope``, ``systemsOnly``).
    package static func system(_ permission: Permission, scope: String? = nil) -> AccessRule {
        AccessRule(door: .program, permission: permission, scope: scope, systemsOnly: true)
    }
}

/// Every route of the local listener and what it needs: the one table the doors' guards read. A
/// route missing here is refused to everyone (and `AccessTableTests` fails).
package enum AccessTable {
    /// Keyed `METHOD PATH`, the path as the router describes it (parameters as `{name}`).
    package static let rules: [String: AccessRule] = [
        // The sign-in routes, assets and health: open.
        "GET /health": .open,
        "GET /auth/login": .open,
        "GET /auth/callback": .open,
        "POST /auth/logout": .open,  // checks its own session and CSRF token
        "GET /auth/signed-out": .open,
        "GET /auth/config": .open,
        "GET /assets/app.css": .open,
        "GET /assets/app.js": .open,
        // The page.
        "GET /": .page(.search),
        "GET /patient": .page(.search),
        "GET /priors": .page(.search),
        "POST /care": .page(.recordCare),
        "POST /fetch": .page(.fetch),
        "POST /push": .page(.fetch),  // an emergency push: a clinician discloses a study held here
        "GET /fetches": .page(.view),
        "GET /fetch/{id}": .page(.view),
        "GET /study": .page(.view),
        "GET /thumbnail/{sop}": .page(.view),
        "GET /operator": .page(.status),
        "POST /operator/conflicts/resolve": .page(.status),
        "GET /audit": .page(.audit),
        "GET /governance": .page(.audit),
        "GET /worklists": .page(.view),
        "GET /worklist": .page(.view),
        "POST /worklists/upload": .page(.fetch),  // a clinic list plans fetches, as the clinician's own would
        "POST /governance/review": .page(.audit),
        // The JSON API.
        "GET /api/v1/status": .program(.status),
        "GET /api/v1/query": .program(.search),
        "GET /api/v1/priors": .program(.search),
        "POST /api/v1/care": .program(.recordCare),
        "GET /api/v1/care": .program(.recordCare),
        "POST /api/v1/optout": .program(.recordCare),
        "POST /api/v1/fetch": .program(.fetch),
        "GET /api/v1/fetch": .program(.fetch),
        "GET /api/v1/fetch/{id}": .program(.fetch),
        "POST /api/v1/push": .program(.fetch),
        "GET /api/v1/push": .program(.fetch),
        // FHIR and metrics.
        "GET /fhir/ImagingStudy": .program(.search),
        // The FHIR feed door: the hospital's systems only, each resource its own scope.
        "POST /fhir/Appointment": .system(.feed, scope: "Appointment.c"),
        "POST /fhir/ServiceRequest": .system(.feed, scope: "ServiceRequest.c"),
        "POST /fhir/notification": .system(.feed),
        "GET /metrics": .program(.metrics),
        // DICOMweb (QIDO without a patient is refused in the door unless the caller may listAll).
        "GET /dicom-web/studies": AccessRule(door: .program, permission: .search, alternative: .listAll),
        "POST /dicom-web/studies": .program(.ingest),
        "GET /dicom-web/studies/{study}": .program(.view),
        "GET /dicom-web/studies/{study}/metadata": .program(.view),
        "GET /dicom-web/studies/{study}/series": .program(.search),
        "GET /dicom-web/studies/{study}/series/{series}": .program(.view),
        "GET /dicom-web/studies/{study}/series/{series}/metadata": .program(.view),
        "GET /dicom-web/studies/{study}/series/{series}/instances": .program(.search),
        "GET /dicom-web/studies/{study}/series/{series}/instances/{instance}": .program(.view),
        "GET /dicom-web/studies/{study}/series/{series}/instances/{instance}/metadata": .program(.view),
        "GET /dicom-web/studies/{study}/instances": .program(.search),
        "POST /dicom-web/studies/{study}": .program(.ingest),
    ]

    /// The rule for a resolved route, or nil (refused).
    package static func rule(_ method: HTTPRequest.Method, _ path: String) -> AccessRule? {
        rules["\(method.rawValue) \(path)"]
    }
}
