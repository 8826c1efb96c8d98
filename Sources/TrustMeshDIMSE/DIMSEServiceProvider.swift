public import TrustMeshDICOM

/// What the DICOM listener needs from the node: somewhere to put incoming files, a store, a query.
///
/// The DIMSE layer speaks the protocol and never touches the catalogue; the node (TrustMeshNode)
/// implements this protocol with its own ingest and federated index, so this target depends on
/// nothing above it.
public protocol DIMSEServiceProvider: Sendable {
    /// A folder for incoming files, on the same filesystem as the store.
    var incomingDirectory: String { get }

    /// A C-STORE: the complete Part 10 file is at `request.path`. Ingest it and return the status
    /// for the C-STORE-RSP. The listener deletes the file afterwards.
    func store(_ request: DIMSEStoreRequest) async -> DIMSEStatus

    /// A C-FIND at PATIENT or STUDY level.
    func find(_ request: DIMSEFindRequest) async -> DIMSEFindResponse

    /// An association that was accepted has ended (released, aborted or dropped): the node
    /// publishes what it stored during it.
    func associationEnded(_ association: DIMSEAssociation) async

    /// The listener refused something: an association (rejected, or aborted by the node), or a
    /// request answered with a failure status, including the provider's own. The node audits it.
    func refused(_ refusal: DIMSERefusal) async
}

/// Something the DICOM listener refused, for the audit log.
public struct DIMSERefusal: Sendable {
    /// The accepted association, if it got that far.
    public var association: DIMSEAssociation?
    /// The peer's address, `host:port`.
    public var peer: String
    /// `association`, `C-STORE`, `C-FIND`, `C-ECHO` or `DIMSE 0x…`.
    public var operation: String
    /// The response's status; nil for an association refused or aborted.
    public var status: UInt16?
    /// Why, in words.
    public var reason: String

    /// The refusal as one line: `C-STORE refused (0xC000): reason`.
    public var summary: String {
        let code = status.map { " (0x" + String($0, radix: 16, uppercase: true) + ")" } ?? ""
        return "\(operation) refused\(code): \(reason)"
    }
}

/// An accepted association, as the services see it.
public struct DIMSEAssociation: Sendable, Hashable {
    /// Unique within the running listener.
    public var id: Int
    public var callingAETitle: String
    public var calledAETitle: String
    /// The peer's address, `host:port`.
    public var peer: String
}

/// One instance received by C-STORE.
public struct DIMSEStoreRequest: Sendable {
    public var association: DIMSEAssociation
    /// A Part 10 file: the node's File Meta Information, then the data set exactly as received.
    public var path: String
    /// Affected SOP Class UID of the command.
    public var sopClassUID: String
    /// Affected SOP Instance UID of the command.
    public var sopInstanceUID: String
    /// The presentation context's transfer syntax.
    public var transferSyntax: TransferSyntax
    /// Bytes of the data set as received.
    public var dataSetBytes: Int
}

/// A C-FIND request (PS3.4 §C.4.1).
public struct DIMSEFindRequest: Sendable {
    /// Patient Root or Study Root information model.
    public enum Model: Sendable { case patientRoot, studyRoot }

    public var association: DIMSEAssociation
    public var model: Model
    /// Query/Retrieve Level (0008,0052): `PATIENT`, `STUDY`, `SERIES` or `IMAGE`.
    public var level: String
    /// Every key of the identifier: its value as text (padding removed), `""` for return-only keys.
    public var keys: [Tag: String]

    /// A key's matching value; nil when absent, empty, or the universal wildcard `*`.
    public func value(_ tag: Tag) -> String? {
        guard let value = keys[tag], !value.isEmpty, value != "*" else { return nil }
        return value
    }
}

/// The matches of a C-FIND and its final status.
public struct DIMSEFindResponse: Sendable {
    /// One dictionary per match: tag → text. The listener returns the requested keys (empty when a
    /// match lacks them) and, when a match has them, Retrieve AE Title and Instance Availability.
    public var matches: [[Tag: String]]
    public var status: DIMSEStatus

    public init(matches: [[Tag: String]], status: DIMSEStatus = .success) {
        self.matches = matches
        self.status = status
    }
}

/// A DIMSE status (PS3.7 Annex C) with an optional Error Comment (0000,0902).
public struct DIMSEStatus: Sendable, Equatable {
    public var code: UInt16
    /// At most 64 characters reach the peer; never patient data.
    public var comment: String?

    public init(code: UInt16, comment: String? = nil) {
        self.code = code
        self.comment = comment
    }

    public static let success = DIMSEStatus(code: 0x0000)
    /// 0xC000–0xCFFF: "cannot understand" / unable to process (PS3.4 Annex B.2.3, C.4.1.1.4).
    public static func cannotUnderstand(_ comment: String) -> DIMSEStatus {
        DIMSEStatus(code: 0xC000, comment: comment)
    }
    /// 0xA700: out of resources.
    public static func outOfResources(_ comment: String) -> DIMSEStatus { DIMSEStatus(code: 0xA700, comment: comment) }
    /// 0xA900: the data set or identifier does not match the SOP class.
    public static func doesNotMatchSOPClass(_ comment: String) -> DIMSEStatus {
        DIMSEStatus(code: 0xA900, comment: comment)
    }
}
