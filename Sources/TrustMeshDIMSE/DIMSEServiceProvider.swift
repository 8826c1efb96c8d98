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
    /// for the C-STORE-RSP. The listener deletes the file afterwards, unless ``takesIncomingFiles``.
    func store(_ request: DIMSEStoreRequest) async -> DIMSEStatus

    /// Whether ``store(_:)`` takes each instance's file: the listener then never touches it again
    /// (the provider renames it, e.g. into a durable spool, or removes it, whatever the status) and
    /// receives the next instance into a new file. False (the default): the listener reuses one
    /// file per association, emptied after each ``store(_:)``.
    var takesIncomingFiles: Bool { get }

    /// A C-FIND at PATIENT or STUDY level.
    func find(_ request: DIMSEFindRequest) async -> DIMSEFindResponse

    /// A C-MOVE to a destination in the listener's table: which instances to send. The listener
    /// then associates with the destination, sends them by C-STORE and reports progress; the node
    /// audits here, before a byte leaves.
    func move(_ request: DIMSEMoveRequest) async -> DIMSEMovePlan

    /// An association that was accepted has ended (released, aborted or dropped): the node
    /// publishes what it stored during it.
    func associationEnded(_ association: DIMSEAssociation) async

    /// The listener refused something: an association (rejected, or aborted by the node), or a
    /// request answered with a failure status, including the provider's own. The node audits it.
    func refused(_ refusal: DIMSERefusal) async
}

extension DIMSEServiceProvider {
    /// The listener keeps and reuses its incoming files.
    public var takesIncomingFiles: Bool { false }
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

/// A C-MOVE request (PS3.4 §C.4.2.1) whose Move Destination is known.
public struct DIMSEMoveRequest: Sendable {
    public var association: DIMSEAssociation
    public var model: DIMSEFindRequest.Model
    /// Query/Retrieve Level (0008,0052): `STUDY`, `SERIES` (or another, which the node declines).
    public var level: String
    /// Every key of the identifier, as for C-FIND.
    public var keys: [Tag: String]
    public var destination: DIMSEMoveDestination

    /// A key's value; nil when absent or empty.
    public func value(_ tag: Tag) -> String? {
        guard let value = keys[tag], !value.isEmpty else { return nil }
        return value
    }
}

/// A known C-MOVE destination: an AE title and where it listens.
public struct DIMSEMoveDestination: Sendable, Hashable {
    public var aeTitle: String
    public var host: String
    public var port: Int

    public init(aeTitle: String, host: String, port: Int) {
        self.aeTitle = aeTitle
        self.host = host
        self.port = port
    }
}

/// One instance a C-MOVE sends: its SOP class and instance, the syntax it is held in (sent as is,
/// never transcoded) and its data set.
public struct DIMSEOutgoingInstance: Sendable {
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var transferSyntaxUID: String
    /// Hands the data set (no File Meta Information) to `write`, piece by piece, in order.
    public var dataSet: @Sendable (_ write: (ArraySlice<UInt8>) async throws -> Void) async throws -> Void

    public init(
        sopClassUID: String, sopInstanceUID: String, transferSyntaxUID: String,
        dataSet: @escaping @Sendable (_ write: (ArraySlice<UInt8>) async throws -> Void) async throws -> Void
    ) {
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
        self.transferSyntaxUID = transferSyntaxUID
        self.dataSet = dataSet
    }
}

/// What a C-MOVE sends, and how it ends.
public struct DIMSEMovePlan: Sendable {
    public var instances: [DIMSEOutgoingInstance]
    /// A failure (0xA…/0xC…) ends the C-MOVE at once with that status, nothing sent. Otherwise the
    /// final status when every sub-operation succeeds: success, or a warning (0xB000) with a comment,
    /// e.g. that some of the studies asked for are held at another trust.
    public var status: DIMSEStatus

    public init(instances: [DIMSEOutgoingInstance], status: DIMSEStatus = .success) {
        self.instances = instances
        self.status = status
    }

    /// Nothing is sent; the C-MOVE ends with `status`.
    public static func refused(_ status: DIMSEStatus) -> DIMSEMovePlan { DIMSEMovePlan(instances: [], status: status) }
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
    /// 0xA702: out of resources, unable to perform sub-operations (PS3.4 §C.4.2.1.5).
    public static func unableToPerformSubOperations(_ comment: String) -> DIMSEStatus {
        DIMSEStatus(code: 0xA702, comment: comment)
    }
    /// 0xB000: sub-operations complete, one or more failures or warnings (PS3.4 §C.4.2.1.5).
    public static func subOperationsWarning(_ comment: String) -> DIMSEStatus {
        DIMSEStatus(code: 0xB000, comment: comment)
    }
    /// Whether this status ends an operation as a failure (not success, pending, cancel or warning).
    public var isFailure: Bool {
        code != 0x0000 && code != 0xFF00 && code != 0xFF01 && code != 0xFE00 && code & 0xF000 != 0xB000
            && code != 0x0001 && code != 0x0107 && code != 0x0116
    }
    /// 0xA900: the data set or identifier does not match the SOP class.
    public static func doesNotMatchSOPClass(_ comment: String) -> DIMSEStatus {
        DIMSEStatus(code: 0xA900, comment: comment)
    }
}
