import Foundation
public import TrustMeshModel

/// The trust whose node recorded the entries being encoded: the audit source of every FHIR
/// AuditEvent and DICOM audit message.
public struct AuditRecorder: Sendable, Hashable {
    /// The trust's ODS code.
    public var trust: TrustID
    /// The trust's display name, e.g. "University Hospitals Birmingham".
    public var name: String

    /// A recorder.
    /// - Parameters:
    ///   - trust: The trust's ODS code.
    ///   - name: The trust's display name.
    public init(trust: TrustID, name: String) {
        self.trust = trust
        self.name = name
    }
}

/// Which patient a study belongs to, learnt from the entries that name both.
///
/// Some entries name a study without its patient (`fetchCompleted`, `fetchAbandoned`,
/// `fetchRefused`); the standards want the patient on every disclosure, so the encoders look it up
/// here, learnt from earlier entries (`ingest`, `fetchRequested`, `fetchServed`…) of the same log.
public struct AuditPatientIndex: Sendable {
    private var patients: [String: String] = [:]

    /// An index that knows no study yet.
    public init() {}

    /// Learns the patient of the entry's study, if it names both.
    /// - Parameter entry: An entry of the log, in order.
    public mutating func learn(_ entry: AuditEntry) {
        if let study = entry[.studyUID], let nhs = entry[.nhsNumber], !study.isEmpty, !nhs.isEmpty {
            patients[study] = nhs
        }
    }

    /// The NHS number the entry names, or else the one learnt for its study.
    /// - Parameter entry: The entry.
    /// - Returns: 10 digits, or `nil` when neither the entry nor the index knows it.
    public func patient(of entry: AuditEntry) -> String? {
        if let nhs = entry[.nhsNumber], !nhs.isEmpty { return nhs }
        return entry[.studyUID].flatMap { patients[$0] }
    }
}

/// Who took part in an event, as both standards name parties: a trust's node, a person, or
/// another system.
struct AuditParty: Equatable {
    enum Kind: Equatable {
        /// A trust's TrustMesh node, by ODS code.
        case node(TrustID)
        /// A signed-in person: identity provider, identifier there, role code, organisation,
        /// registration, session handle.
        case person(
            issuer: String, subject: String, role: String?, organisation: String?, registration: String?,
            session: String?)
        /// Any other system, by the name the log gives it.
        case system
    }

    var kind: Kind
    /// The display name: a trust's name, a person's name, a system's name.
    var display: String
    /// The network access point, when known: an IP address or host name from the log, else the
    /// node's identity in the mesh (`urn:trustmesh:trust:ODS`, a URI; its address is in the
    /// network's topology).
    var network: (address: String, type: NetworkType)?

    /// FHIR `network-type` and DICOM `NetworkAccessPointTypeCode`: the same codes.
    enum NetworkType: String {
        case machineName = "1"
        case ipAddress = "2"
        case uri = "5"
    }

    static func == (lhs: AuditParty, rhs: AuditParty) -> Bool {
        lhs.kind == rhs.kind && lhs.display == rhs.display && lhs.network?.address == rhs.network?.address
    }

    /// A trust's node.
    static func node(_ trust: TrustID, name: String) -> AuditParty {
        AuditParty(kind: .node(trust), display: name, network: ("urn:trustmesh:trust:" + trust.code, .uri))
    }

    /// The node that recorded the entry.
    static func recorder(_ recorder: AuditRecorder) -> AuditParty { .node(recorder.trust, name: recorder.name) }

    /// Who acted, from the entry's `actor` and `actor…` subject keys.
    static func actor(of entry: AuditEntry) -> AuditParty {
        if entry[.actorKind] == "person" {
            return AuditParty(
                kind: .person(
                    issuer: entry[.actorIssuer] ?? "", subject: entry[.actorSubject] ?? "", role: entry[.actorRole],
                    organisation: entry[.actorOrganisation], registration: entry[.actorRegistration],
                    session: entry[.session]),
                display: entry.actor, network: nil)
        }
        // A peer's node acting: `peer RQ3`, or (before issue 13) the bare ODS code.
        let name = entry.actor.hasPrefix("peer ") ? String(entry.actor.dropFirst(5)) : entry.actor
        if let trust = try? TrustID(name), name == trust.code {
            return .node(trust, name: trust.code)
        }
        return AuditParty(kind: .system, display: entry.actor, network: address(inActor: entry.actor))
    }

    /// The other trust (or DICOM peer) the entry names in `peer`, if any.
    static func peer(of entry: AuditEntry) -> AuditParty? {
        guard let peer = entry[.peer], !peer.isEmpty else { return nil }
        if let trust = try? TrustID(peer), trust.code == peer { return .node(trust, name: peer) }
        return AuditParty(kind: .system, display: peer, network: address(peer))
    }

    /// `DICOM PACS1 at 10.0.0.5:4242`, `unauthenticated 10.0.0.5`: the address a system actor's
    /// name ends with.
    static func address(inActor actor: String) -> (String, NetworkType)? {
        if let range = actor.range(of: " at ", options: .backwards) {
            return address(String(actor[range.upperBound...]))
        }
        if actor.hasPrefix("unauthenticated ") { return address(String(actor.dropFirst("unauthenticated ".count))) }
        return nil
    }

    /// `host:port`, `[v6]:port` or a bare address, as a network access point without the port.
    static func address(_ text: String) -> (String, NetworkType)? {
        var host = Substring(text)
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            host = host[host.index(after: host.startIndex)..<end]
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            host = host[..<colon]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".:-_".contains($0) }) else {
            return nil
        }
        let isIP = host.allSatisfy { $0.isNumber || $0 == "." } || host.contains(":")
        return (String(host), isIP ? .ipAddress : .machineName)
    }
}

/// How an entry's outcome reads in both standards (FHIR `audit-event-outcome` and DICOM
/// `EventOutcomeIndicator` share the codes).
enum AuditOutcome: String {
    /// Success.
    case success = "0"
    /// Minor failure: the request was refused; the system did what it should.
    case minorFailure = "4"
    /// Serious failure: the action was terminated (a fetch given up, an ingest the node failed).
    case seriousFailure = "8"

    /// The outcome of an entry of `kind`.
    static func of(_ entry: AuditEntry) -> AuditOutcome {
        switch entry.kind {
        case .fetchRefused, .peerRefused, .dicomRefused, .optOutRefused, .ingestRefused, .feedRefused, .pushRefused:
            .minorFailure
        case .fetchAbandoned, .ingestFailed, .treeHeadConflict, .equivocation: .seriousFailure
        default: .success
        }
    }

    /// What went wrong, for the outcome's description: the rule, then the details of refusals that
    /// carry their reason there. `nil` on success.
    static func description(of entry: AuditEntry) -> String? {
        guard of(entry) != .success else { return nil }
        var parts: [String] = []
        if let rule = entry[.rule] { parts.append("rule " + rule) }
        if let peer = entry[.peer], entry.kind == .treeHeadConflict { parts.append("two heads signed by " + peer) }
        if let peer = entry[.peer], entry.kind == .equivocation { parts.append("two statements signed by " + peer) }
        if ![.fetchRefused, .treeHeadConflict, .equivocation].contains(entry.kind), let details = entry.details {
            parts.append(details)
        }
        return parts.isEmpty ? entry.kind.rawValue : parts.joined(separator: ": ")
    }
}

/// NHS numbers in their display form, `943 476 5919`.
func displayNHSNumber(_ digits: String) -> String {
    guard digits.count == 10, digits.allSatisfy(\.isNumber) else { return digits }
    let d = Array(digits)
    return String(d[0..<3]) + " " + String(d[3..<6]) + " " + String(d[6..<10])
}
