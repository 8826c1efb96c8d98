package import NIOCore

/// A DICOM upper layer protocol data unit (PS3.8 §9.3): the unit of the TCP stream between two
/// application entities. Every PDU is a 6-byte header (type, reserved, 32-bit big-endian length)
/// and a body of that length.
package enum PDU: Sendable, Equatable {
    case associateRequest(AssociateRequest)
    case associateAccept(AssociateAccept)
    case associateReject(AssociateReject)
    /// P-DATA-TF: one or more presentation data values.
    case data([PDV])
    case releaseRequest
    case releaseResponse
    case abort(Abort)

    /// PDU types (PS3.8 Table 9-11 and §9.3.2–9.3.8).
    package enum Kind: UInt8, Sendable {
        case associateRequest = 0x01, associateAccept = 0x02, associateReject = 0x03, data = 0x04
        case releaseRequest = 0x05, releaseResponse = 0x06, abort = 0x07
    }

    package var kind: Kind {
        switch self {
        case .associateRequest: .associateRequest
        case .associateAccept: .associateAccept
        case .associateReject: .associateReject
        case .data: .data
        case .releaseRequest: .releaseRequest
        case .releaseResponse: .releaseResponse
        case .abort: .abort
        }
    }
}

/// Application context name for DICOM (PS3.7 Annex A.2.1): the only one there is.
package let dicomApplicationContext = "1.2.840.10008.3.1.1.1"

/// One proposed presentation context (PS3.8 §9.3.2.2): an abstract syntax and the transfer syntaxes
/// the requestor can use for it, in its order of preference.
package struct PresentationContextProposal: Sendable, Equatable {
    /// Odd, 1–255, unique within the association.
    package var id: UInt8
    package var abstractSyntax: String
    package var transferSyntaxes: [String]

    package init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntaxes = transferSyntaxes
    }
}

/// The acceptor's answer for one presentation context (PS3.8 §9.3.3.2, Table 9-18).
package struct PresentationContextResult: Sendable, Equatable {
    package enum Result: UInt8, Sendable {
        case acceptance = 0, userRejection = 1, noReason = 2
        case abstractSyntaxNotSupported = 3, transferSyntaxesNotSupported = 4
    }

    package var id: UInt8
    package var result: Result
    /// The chosen transfer syntax; ignored by the requestor unless the context is accepted.
    package var transferSyntax: String

    package init(id: UInt8, result: Result, transferSyntax: String) {
        self.id = id
        self.result = result
        self.transferSyntax = transferSyntax
    }
}

/// The user information item (PS3.8 §9.3.2.3, PS3.7 Annex D.3.3) as far as this node uses it.
package struct UserInformation: Sendable, Equatable {
    /// Maximum length of a P-DATA-TF PDU's variable field the sender will receive; 0 = no limit.
    package var maximumLength: UInt32
    package var implementationClassUID: String
    package var implementationVersionName: String?

    package init(maximumLength: UInt32, implementationClassUID: String, implementationVersionName: String? = nil) {
        self.maximumLength = maximumLength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
    }
}

/// A-ASSOCIATE-RQ (PS3.8 §9.3.2).
package struct AssociateRequest: Sendable, Equatable {
    package var calledAETitle: String
    package var callingAETitle: String
    package var applicationContext: String = dicomApplicationContext
    package var contexts: [PresentationContextProposal]
    package var user: UserInformation
    /// Bit 0 set for version 1, the only version (PS3.8 Table 9-11).
    package var protocolVersion: UInt16 = 1

    package init(
        calledAETitle: String, callingAETitle: String, contexts: [PresentationContextProposal], user: UserInformation
    ) {
        self.calledAETitle = calledAETitle
        self.callingAETitle = callingAETitle
        self.contexts = contexts
        self.user = user
    }
}

/// A-ASSOCIATE-AC (PS3.8 §9.3.3): the called and calling AE titles are those of the request.
package struct AssociateAccept: Sendable, Equatable {
    package var calledAETitle: String
    package var callingAETitle: String
    package var applicationContext: String = dicomApplicationContext
    package var results: [PresentationContextResult]
    package var user: UserInformation

    package init(
        calledAETitle: String, callingAETitle: String, results: [PresentationContextResult], user: UserInformation
    ) {
        self.calledAETitle = calledAETitle
        self.callingAETitle = callingAETitle
        self.results = results
        self.user = user
    }
}

/// A-ASSOCIATE-RJ (PS3.8 §9.3.4, Table 9-21).
package struct AssociateReject: Sendable, Equatable {
    /// 1 permanent, 2 transient.
    package var result: UInt8
    /// 1 service user, 2 service provider (ACSE), 3 service provider (presentation).
    package var source: UInt8
    package var reason: UInt8

    package init(result: UInt8, source: UInt8, reason: UInt8) {
        self.result = result
        self.source = source
        self.reason = reason
    }

    package static let callingAETitleNotRecognised = AssociateReject(result: 1, source: 1, reason: 3)
    package static let calledAETitleNotRecognised = AssociateReject(result: 1, source: 1, reason: 7)
    package static let applicationContextNotSupported = AssociateReject(result: 1, source: 1, reason: 2)
    package static let protocolVersionNotSupported = AssociateReject(result: 1, source: 2, reason: 2)
    package static let localLimitExceeded = AssociateReject(result: 2, source: 3, reason: 2)
}

/// A-ABORT (PS3.8 §9.3.8, Table 9-26).
package struct Abort: Sendable, Equatable {
    /// 0 service user, 2 service provider.
    package var source: UInt8
    /// For source 2: 0 not specified, 1 unrecognised PDU, 2 unexpected PDU, 4 unrecognised PDU
    /// parameter, 5 unexpected PDU parameter, 6 invalid PDU parameter value.
    package var reason: UInt8

    package init(source: UInt8, reason: UInt8) {
        self.source = source
        self.reason = reason
    }
}

/// A presentation data value (PS3.8 §9.3.5.1, Annex E.2): a fragment of a command or data set.
package struct PDV: Sendable, Equatable {
    package var contextID: UInt8
    /// Bit 0 of the message control header: command information (1) or data set (0).
    package var isCommand: Bool
    /// Bit 1: the last fragment of the command or data set.
    package var isLast: Bool
    package var data: ByteBuffer

    package init(contextID: UInt8, isCommand: Bool, isLast: Bool, data: ByteBuffer) {
        self.contextID = contextID
        self.isCommand = isCommand
        self.isLast = isLast
        self.data = data
    }
}

// MARK: - Encoding

extension PDU {
    /// Appends the PDU, header included, to `buffer`.
    package func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(UInt8(0))
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        let start = buffer.writerIndex
        switch self {
        case .associateRequest(let request):
            Self.writeAssociateHeader(
                &buffer, version: request.protocolVersion, called: request.calledAETitle,
                calling: request.callingAETitle)
            Self.writeItem(&buffer, type: 0x10, ascii: request.applicationContext)
            for context in request.contexts {
                Self.writeItem(&buffer, type: 0x20) { body in
                    body.writeInteger(context.id)
                    body.writeBytes([0, 0, 0])
                    Self.writeItem(&body, type: 0x30, ascii: context.abstractSyntax)
                    for syntax in context.transferSyntaxes { Self.writeItem(&body, type: 0x40, ascii: syntax) }
                }
            }
            Self.writeUserInformation(&buffer, request.user)
        case .associateAccept(let accept):
            Self.writeAssociateHeader(&buffer, version: 1, called: accept.calledAETitle, calling: accept.callingAETitle)
            Self.writeItem(&buffer, type: 0x10, ascii: accept.applicationContext)
            for result in accept.results {
                Self.writeItem(&buffer, type: 0x21) { body in
                    body.writeInteger(result.id)
                    body.writeInteger(UInt8(0))
                    body.writeInteger(result.result.rawValue)
                    body.writeInteger(UInt8(0))
                    Self.writeItem(&body, type: 0x40, ascii: result.transferSyntax)
                }
            }
            Self.writeUserInformation(&buffer, accept.user)
        case .associateReject(let reject):
            buffer.writeBytes([0, reject.result, reject.source, reject.reason])
        case .data(let values):
            for value in values {
                buffer.writeInteger(UInt32(value.data.readableBytes + 2))
                buffer.writeInteger(value.contextID)
                buffer.writeInteger(UInt8((value.isCommand ? 1 : 0) | (value.isLast ? 2 : 0)))
                var data = value.data
                buffer.writeBuffer(&data)
            }
        case .releaseRequest, .releaseResponse:
            buffer.writeBytes([0, 0, 0, 0])
        case .abort(let abort):
            buffer.writeBytes([0, 0, abort.source, abort.reason])
        }
        buffer.setInteger(UInt32(buffer.writerIndex - start), at: lengthIndex)
    }

    private static func writeAssociateHeader(
        _ buffer: inout ByteBuffer, version: UInt16, called: String, calling: String
    ) {
        buffer.writeInteger(version)
        buffer.writeInteger(UInt16(0))
        buffer.writeBytes(aeTitleField(called))
        buffer.writeBytes(aeTitleField(calling))
        buffer.writeRepeatingByte(0, count: 32)
    }

    /// An AE title as its 16-byte field: ASCII, padded with spaces (PS3.8 Table 9-11).
    private static func aeTitleField(_ title: String) -> [UInt8] {
        var bytes = Array(title.utf8.prefix(16))
        while bytes.count < 16 { bytes.append(0x20) }
        return bytes
    }

    private static func writeItem(_ buffer: inout ByteBuffer, type: UInt8, ascii: String) {
        writeItem(&buffer, type: type) { $0.writeString(ascii) }
    }

    private static func writeItem(_ buffer: inout ByteBuffer, type: UInt8, body: (inout ByteBuffer) -> Void) {
        buffer.writeInteger(type)
        buffer.writeInteger(UInt8(0))
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt16(0))
        let start = buffer.writerIndex
        body(&buffer)
        buffer.setInteger(UInt16(buffer.writerIndex - start), at: lengthIndex)
    }

    private static func writeUserInformation(_ buffer: inout ByteBuffer, _ user: UserInformation) {
        writeItem(&buffer, type: 0x50) { body in
            writeItem(&body, type: 0x51) { $0.writeInteger(user.maximumLength) }
            writeItem(&body, type: 0x52, ascii: user.implementationClassUID)
            if let name = user.implementationVersionName { writeItem(&body, type: 0x55, ascii: name) }
        }
    }
}

// MARK: - Decoding

extension PDU {
    /// Parses a PDU's body (the bytes after its 6-byte header).
    ///
    /// Strict: every length must match what it contains, reserved item types are refused, and each
    /// item appears as often as PS3.8 allows. The one leniency is PS3.7 Annex D.3.3's: user
    /// information sub-items this node does not use are skipped.
    /// - Throws: ``DIMSEError`` with the A-ABORT reason that answers the fault.
    package static func decode(type: UInt8, body: ByteBuffer) throws(DIMSEError) -> PDU {
        var body = body
        guard let kind = Kind(rawValue: type) else {
            throw .malformedPDU("unknown PDU type 0x\(String(type, radix: 16))", unrecognised: true)
        }
        switch kind {
        case .associateRequest:
            let (version, called, calling, items) = try associateHeader(&body, what: "A-ASSOCIATE-RQ")
            var context: String?
            var proposals: [PresentationContextProposal] = []
            var user: UserInformation?
            for (itemType, var item) in items {
                switch itemType {
                case 0x10:
                    guard context == nil else { throw .unexpectedParameter("two application context items") }
                    context = try uid(item)
                case 0x20:
                    guard user == nil else {
                        throw .unexpectedParameter("a presentation context after user information")
                    }
                    let proposal = try presentationContextProposal(&item)
                    guard !proposals.contains(where: { $0.id == proposal.id }) else {
                        throw .malformedPDU("presentation context ID \(proposal.id) proposed twice")
                    }
                    proposals.append(proposal)
                case 0x50:
                    guard user == nil else { throw .unexpectedParameter("two user information items") }
                    user = try userInformation(&item)
                case 0x21:
                    throw .unexpectedParameter("an accepted presentation context item (0x21) in a request")
                default:
                    throw .unrecognisedParameter("item type 0x\(String(itemType, radix: 16)) in A-ASSOCIATE-RQ")
                }
            }
            guard let context else { throw .malformedPDU("A-ASSOCIATE-RQ has no application context item") }
            guard !proposals.isEmpty else { throw .malformedPDU("A-ASSOCIATE-RQ proposes no presentation context") }
            guard let user else { throw .malformedPDU("A-ASSOCIATE-RQ has no user information item") }
            var request = AssociateRequest(
                calledAETitle: called, callingAETitle: calling, contexts: proposals, user: user)
            request.applicationContext = context
            request.protocolVersion = version
            return .associateRequest(request)
        case .associateAccept:
            let (_, called, calling, items) = try associateHeader(&body, what: "A-ASSOCIATE-AC")
            var results: [PresentationContextResult] = []
            var context = dicomApplicationContext
            var user = UserInformation(maximumLength: 0, implementationClassUID: "")
            for (itemType, var item) in items {
                switch itemType {
                case 0x10: context = try uid(item)
                case 0x21:
                    guard let id = item.readInteger(as: UInt8.self), item.readInteger(as: UInt8.self) != nil,
                        let raw = item.readInteger(as: UInt8.self),
                        let result = PresentationContextResult.Result(rawValue: raw),
                        item.readInteger(as: UInt8.self) != nil
                    else { throw .malformedPDU("bad presentation context result item") }
                    var syntax = ""
                    for (subType, sub) in try Self.items(in: &item, what: "presentation context result")
                    where subType == 0x40 {
                        syntax = try uid(sub)
                    }
                    results.append(PresentationContextResult(id: id, result: result, transferSyntax: syntax))
                case 0x50: user = try userInformation(&item)
                default: throw .unrecognisedParameter("item type 0x\(String(itemType, radix: 16)) in A-ASSOCIATE-AC")
                }
            }
            var accept = AssociateAccept(calledAETitle: called, callingAETitle: calling, results: results, user: user)
            accept.applicationContext = context
            return .associateAccept(accept)
        case .associateReject:
            let bytes = try fixedFour(&body, what: "A-ASSOCIATE-RJ")
            return .associateReject(AssociateReject(result: bytes[1], source: bytes[2], reason: bytes[3]))
        case .data:
            var values: [PDV] = []
            while body.readableBytes > 0 {
                guard let length = body.readInteger(as: UInt32.self) else {
                    throw .malformedPDU("P-DATA-TF ends inside a PDV item's length")
                }
                guard length >= 2, Int(length) <= body.readableBytes else {
                    throw .malformedPDU("PDV item length \(length) does not fit its P-DATA-TF PDU")
                }
                let contextID = body.readInteger(as: UInt8.self)!
                let header = body.readInteger(as: UInt8.self)!
                guard header & 0xFC == 0 else {
                    throw .malformedPDU("PDV message control header 0x\(String(header, radix: 16)) sets reserved bits")
                }
                guard contextID & 1 == 1 else {
                    throw .malformedPDU("PDV presentation context ID \(contextID) is even")
                }
                let data = body.readSlice(length: Int(length) - 2)!
                values.append(
                    PDV(contextID: contextID, isCommand: header & 1 == 1, isLast: header & 2 == 2, data: data))
            }
            guard !values.isEmpty else { throw .malformedPDU("P-DATA-TF holds no PDV") }
            return .data(values)
        case .releaseRequest:
            _ = try fixedFour(&body, what: "A-RELEASE-RQ")
            return .releaseRequest
        case .releaseResponse:
            _ = try fixedFour(&body, what: "A-RELEASE-RP")
            return .releaseResponse
        case .abort:
            let bytes = try fixedFour(&body, what: "A-ABORT")
            return .abort(Abort(source: bytes[2], reason: bytes[3]))
        }
    }

    private static func fixedFour(_ body: inout ByteBuffer, what: String) throws(DIMSEError) -> [UInt8] {
        guard body.readableBytes == 4, let bytes = body.readBytes(length: 4) else {
            throw .malformedPDU("\(what) must be 4 bytes long, not \(body.readableBytes)")
        }
        return bytes
    }

    /// Reads the fixed fields of A-ASSOCIATE-RQ/AC (PS3.8 Tables 9-11, 9-17) and splits the rest into items.
    private static func associateHeader(_ body: inout ByteBuffer, what: String) throws(DIMSEError) -> (
        UInt16, String, String, [(UInt8, ByteBuffer)]
    ) {
        guard body.readableBytes >= 68 else { throw .malformedPDU("\(what) is shorter than its 68 fixed bytes") }
        let version = body.readInteger(as: UInt16.self)!
        body.moveReaderIndex(forwardBy: 2)
        let called = try aeTitle(body.readBytes(length: 16)!, what: "\(what)'s called AE title")
        let calling = try aeTitle(body.readBytes(length: 16)!, what: "\(what)'s calling AE title")
        body.moveReaderIndex(forwardBy: 32)
        return (version, called, calling, try items(in: &body, what: what))
    }

    /// Items and sub-items: type, reserved byte, 16-bit big-endian length, value (PS3.8 §9.3.2.1).
    private static func items(in body: inout ByteBuffer, what: String) throws(DIMSEError) -> [(UInt8, ByteBuffer)] {
        var items: [(UInt8, ByteBuffer)] = []
        while body.readableBytes > 0 {
            guard body.readableBytes >= 4 else { throw .malformedPDU("\(what) ends inside an item header") }
            let type = body.readInteger(as: UInt8.self)!
            body.moveReaderIndex(forwardBy: 1)
            let length = Int(body.readInteger(as: UInt16.self)!)
            guard let value = body.readSlice(length: length) else {
                throw .malformedPDU(
                    "item 0x\(String(type, radix: 16)) of \(what) claims \(length) bytes; \(body.readableBytes) remain")
            }
            items.append((type, value))
        }
        return items
    }

    private static func presentationContextProposal(_ item: inout ByteBuffer) throws(DIMSEError)
        -> PresentationContextProposal
    {
        guard item.readableBytes >= 4 else { throw .malformedPDU("presentation context item is too short") }
        let id = item.readInteger(as: UInt8.self)!
        item.moveReaderIndex(forwardBy: 3)
        guard id & 1 == 1 else { throw .malformedPDU("presentation context ID \(id) is even") }
        var abstract: String?
        var syntaxes: [String] = []
        for (type, sub) in try items(in: &item, what: "presentation context \(id)") {
            switch type {
            case 0x30:
                guard abstract == nil else { throw .unexpectedParameter("two abstract syntaxes in context \(id)") }
                abstract = try uid(sub)
            case 0x40: syntaxes.append(try uid(sub))
            default:
                throw .unrecognisedParameter("sub-item 0x\(String(type, radix: 16)) in presentation context \(id)")
            }
        }
        guard let abstract, !abstract.isEmpty else { throw .malformedPDU("context \(id) has no abstract syntax") }
        guard !syntaxes.isEmpty else { throw .malformedPDU("context \(id) proposes no transfer syntax") }
        return PresentationContextProposal(id: id, abstractSyntax: abstract, transferSyntaxes: syntaxes)
    }

    private static func userInformation(_ item: inout ByteBuffer) throws(DIMSEError) -> UserInformation {
        var user = UserInformation(maximumLength: 0, implementationClassUID: "")
        var sawMaximum = false
        for (type, var sub) in try items(in: &item, what: "user information") {
            switch type {
            case 0x51:
                guard sub.readableBytes == 4 else { throw .malformedPDU("maximum length sub-item is not 4 bytes") }
                user.maximumLength = sub.readInteger(as: UInt32.self)!
                sawMaximum = true
            case 0x52: user.implementationClassUID = try uid(sub)
            case 0x55: user.implementationVersionName = try uid(sub)
            default: continue  // asynchronous operations, role selection, extended negotiation, user identity
            }
        }
        guard sawMaximum else { throw .malformedPDU("user information has no maximum length sub-item") }
        return user
    }

    /// A UID or name from an item: ASCII, with any trailing NUL or space padding dropped.
    /// A UID or name item's value, its trailing NUL or space padding removed.
    /// - Throws: reason 6 (invalid parameter value) for a byte outside printable ASCII: such a value
    ///   is no UID, and would reach logs and the audit log otherwise.
    private static func uid(_ buffer: ByteBuffer) throws(DIMSEError) -> String {
        var bytes = buffer.readableBytesView[...]
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw .malformedPDU("a UID or name item holds a byte outside printable ASCII")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An AE title: leading and trailing spaces are not significant (PS3.5 §6.2, AE).
    /// - Throws: reason 6 for a control character, a byte outside ASCII or a backslash, which the
    ///   AE value representation excludes (found by the `pdu` fuzz target: such a title was taken
    ///   as given, and did not survive being written back).
    private static func aeTitle(_ bytes: [UInt8], what: String) throws(DIMSEError) -> String {
        var slice = bytes[...]
        while let first = slice.first, first == 0x20 { slice.removeFirst() }
        while let last = slice.last, last == 0x20 || last == 0 { slice.removeLast() }
        guard slice.allSatisfy({ (0x20...0x7E).contains($0) && $0 != 0x5C }) else {
            throw .malformedPDU("the \(what) holds a character an AE title may not (PS3.5 §6.2)")
        }
        return String(decoding: slice, as: UTF8.self)
    }
}

extension PDV {
    /// `bytes` cut into PDVs of at most `room` bytes, in order (PS3.8 Annex E): the last one is
    /// flagged last when `isLast`, so a data set sent in pieces flags only its final piece's end.
    /// The slices share `bytes`' storage.
    static func fragments(
        of bytes: ByteBuffer, contextID: UInt8, isCommand: Bool, isLast: Bool = true, room: Int
    ) -> [PDV] {
        var bytes = bytes
        var values: [PDV] = []
        repeat {
            let slice = bytes.readSlice(length: min(room, bytes.readableBytes))!
            values.append(
                PDV(contextID: contextID, isCommand: isCommand, isLast: isLast && bytes.readableBytes == 0, data: slice)
            )
        } while bytes.readableBytes > 0
        return values
    }
}
