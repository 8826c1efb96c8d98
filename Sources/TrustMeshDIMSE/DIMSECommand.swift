package import NIOCore

/// A DIMSE command set (PS3.7 §9.3, §E.1): group 0000 elements, always Implicit VR Little Endian
/// whatever the presentation context's transfer syntax, led by Command Group Length (0000,0000).
package struct DIMSECommand: Sendable, Equatable {
    /// Command Field (0000,0100) values (PS3.7 Table E.1-1).
    package enum Field {
        package static let cStoreRQ: UInt16 = 0x0001
        package static let cStoreRSP: UInt16 = 0x8001
        package static let cFindRQ: UInt16 = 0x0020
        package static let cFindRSP: UInt16 = 0x8020
        package static let cGetRQ: UInt16 = 0x0010
        package static let cMoveRQ: UInt16 = 0x0021
        package static let cMoveRSP: UInt16 = 0x8021
        package static let cEchoRQ: UInt16 = 0x0030
        package static let cEchoRSP: UInt16 = 0x8030
        package static let cCancelRQ: UInt16 = 0x0FFF
    }

    /// Command Data Set Type (0000,0800): 0x0101 means no data set follows; any other value means one does.
    package static let noDataSet: UInt16 = 0x0101

    package var field: UInt16
    package var messageID: UInt16?
    package var messageIDBeingRespondedTo: UInt16?
    package var affectedSOPClassUID: String?
    package var affectedSOPInstanceUID: String?
    package var priority: UInt16?
    package var hasDataSet: Bool
    package var status: UInt16?
    package var errorComment: String?
    /// Move Destination (0000,0600) of a C-MOVE-RQ.
    package var moveDestination: String?
    /// Move Originator Application Entity Title (0000,1030) and Message ID (0000,1031) of a
    /// C-STORE-RQ sent as a C-MOVE's sub-operation.
    package var moveOriginatorAETitle: String?
    package var moveOriginatorMessageID: UInt16?
    /// Number of Remaining, Completed, Failed and Warning Sub-operations (0000,1020–1023) of a
    /// C-MOVE-RSP.
    package var subOperations: SubOperations?

    /// The sub-operation counts of a C-MOVE (PS3.7 §9.1.4.1.11–14).
    package struct SubOperations: Sendable, Equatable {
        package var remaining: UInt16?
        package var completed: UInt16
        package var failed: UInt16
        package var warning: UInt16

        package init(remaining: UInt16?, completed: UInt16, failed: UInt16, warning: UInt16) {
            self.remaining = remaining
            self.completed = completed
            self.failed = failed
            self.warning = warning
        }
    }

    package init(
        field: UInt16, messageID: UInt16? = nil, messageIDBeingRespondedTo: UInt16? = nil,
        affectedSOPClassUID: String? = nil, affectedSOPInstanceUID: String? = nil, priority: UInt16? = nil,
        hasDataSet: Bool, status: UInt16? = nil, errorComment: String? = nil
    ) {
        self.field = field
        self.messageID = messageID
        self.messageIDBeingRespondedTo = messageIDBeingRespondedTo
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.priority = priority
        self.hasDataSet = hasDataSet
        self.status = status
        self.errorComment = errorComment
    }

    /// Whether this is a request (the high bit of the command field is clear).
    package var isRequest: Bool { field & 0x8000 == 0 }

    /// The response to this request, with the identifying fields PS3.7 §9.3 requires copied over.
    package func response(status: UInt16, hasDataSet: Bool = false, errorComment: String? = nil) -> DIMSECommand {
        DIMSECommand(
            field: field | 0x8000, messageIDBeingRespondedTo: messageID ?? 0, affectedSOPClassUID: affectedSOPClassUID,
            affectedSOPInstanceUID: field == Field.cStoreRQ ? affectedSOPInstanceUID : nil, hasDataSet: hasDataSet,
            status: status, errorComment: errorComment.map { String($0.prefix(64)) })
    }

    /// Reads a command set.
    /// - Throws: ``DIMSEError`` if an element leaves group 0000, overruns the buffer, or the
    ///   Command Field or Command Data Set Type is missing.
    package static func decode(_ buffer: ByteBuffer) throws(DIMSEError) -> DIMSECommand {
        var buffer = buffer
        var field: UInt16?
        var dataSetType: UInt16?
        var command = DIMSECommand(field: 0, hasDataSet: false)
        while buffer.readableBytes > 0 {
            guard let group = buffer.readInteger(endianness: .little, as: UInt16.self),
                let element = buffer.readInteger(endianness: .little, as: UInt16.self),
                let length = buffer.readInteger(endianness: .little, as: UInt32.self)
            else { throw .badCommand("the command set ends inside an element header") }
            guard group == 0x0000 else {
                throw .badCommand("element (\(hex(group)),\(hex(element))) is outside group 0000")
            }
            guard length != 0xFFFF_FFFF, let value = buffer.readSlice(length: Int(length)) else {
                throw .badCommand("element (0000,\(hex(element))) claims \(length) bytes")
            }
            switch element {
            case 0x0002: command.affectedSOPClassUID = text(value)
            case 0x0100: field = try us(value, element)
            case 0x0110: command.messageID = try us(value, element)
            case 0x0120: command.messageIDBeingRespondedTo = try us(value, element)
            case 0x0700: command.priority = try us(value, element)
            case 0x0800: dataSetType = try us(value, element)
            case 0x0900: command.status = try us(value, element)
            case 0x0902: command.errorComment = text(value)
            case 0x0600: command.moveDestination = text(value)
            case 0x1000: command.affectedSOPInstanceUID = text(value)
            case 0x1030: command.moveOriginatorAETitle = text(value)
            case 0x1031: command.moveOriginatorMessageID = try us(value, element)
            default: continue  // group length, move destination, originator and the rest: not used here
            }
        }
        guard let field else { throw .badCommand("no Command Field (0000,0100)") }
        guard let dataSetType else { throw .badCommand("no Command Data Set Type (0000,0800)") }
        command.field = field
        command.hasDataSet = dataSetType != noDataSet
        return command
    }

    /// Encodes the command set, Command Group Length first.
    package func encode() -> ByteBuffer {
        var body = ByteBuffer()
        func put(_ element: UInt16, _ bytes: [UInt8]) {
            body.writeInteger(UInt16(0), endianness: .little)
            body.writeInteger(element, endianness: .little)
            body.writeInteger(UInt32(bytes.count), endianness: .little)
            body.writeBytes(bytes)
        }
        func putUS(_ element: UInt16, _ value: UInt16?) {
            if let value { put(element, [UInt8(value & 0xFF), UInt8(value >> 8)]) }
        }
        func putText(_ element: UInt16, _ value: String?, pad: UInt8) {
            guard let value else { return }
            var bytes = Array(value.utf8)
            if bytes.count % 2 == 1 { bytes.append(pad) }
            put(element, bytes)
        }
        putText(0x0002, affectedSOPClassUID, pad: 0)
        putUS(0x0100, field)
        putUS(0x0110, messageID)
        putUS(0x0120, messageIDBeingRespondedTo)
        putText(0x0600, moveDestination, pad: 0x20)
        putUS(0x0700, priority)
        // dcmtk and pynetdicom write 0x0001 for "a data set follows".
        putUS(0x0800, hasDataSet ? 0x0001 : Self.noDataSet)
        putUS(0x0900, status)
        putText(0x0902, errorComment, pad: 0x20)
        putText(0x1000, affectedSOPInstanceUID, pad: 0)
        if let counts = subOperations {
            putUS(0x1020, counts.remaining)
            putUS(0x1021, counts.completed)
            putUS(0x1022, counts.failed)
            putUS(0x1023, counts.warning)
        }
        putText(0x1030, moveOriginatorAETitle, pad: 0x20)
        putUS(0x1031, moveOriginatorMessageID)
        var out = ByteBuffer()
        // (0000,0000) UL, implicit VR: tag, 32-bit length 4, value.
        out.writeInteger(UInt16(0), endianness: .little)
        out.writeInteger(UInt16(0), endianness: .little)
        out.writeInteger(UInt32(4), endianness: .little)
        out.writeInteger(UInt32(body.readableBytes), endianness: .little)
        out.writeBuffer(&body)
        return out
    }

    private static func us(_ value: ByteBuffer, _ element: UInt16) throws(DIMSEError) -> UInt16 {
        var value = value
        guard value.readableBytes == 2, let number = value.readInteger(endianness: .little, as: UInt16.self) else {
            throw .badCommand("element (0000,\(hex(element))) is not one US value")
        }
        return number
    }

    private static func text(_ value: ByteBuffer) -> String {
        var bytes = value.readableBytesView[...]
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ value: UInt16) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - digits.count) + digits
    }
}
