import NIOCore
import Testing
import TrustMeshDICOM

@testable import TrustMeshDIMSE

/// PDUs and command sets round-trip, and malformed bytes are refused with the standard abort reason.
@Suite struct PDUTests {
    static let request = AssociateRequest(
        calledAETitle: "TM_RRK", callingAETitle: "STORESCU",
        contexts: [
            PresentationContextProposal(
                id: 1, abstractSyntax: SOPClasses.verification, transferSyntaxes: ["1.2.840.10008.1.2"]),
            PresentationContextProposal(
                id: 3, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                transferSyntaxes: ["1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.1"]),
        ],
        user: UserInformation(maximumLength: 16384, implementationClassUID: "1.2.3.4", implementationVersionName: "X"))

    static func encoded(_ pdu: PDU) -> ByteBuffer {
        var buffer = ByteBuffer()
        pdu.encode(into: &buffer)
        return buffer
    }

    static func body(_ buffer: ByteBuffer) -> (UInt8, ByteBuffer) {
        var buffer = buffer
        let type = buffer.readInteger(as: UInt8.self)!
        buffer.moveReaderIndex(forwardBy: 1)
        let length = buffer.readInteger(as: UInt32.self)!
        #expect(Int(length) == buffer.readableBytes)
        return (type, buffer)
    }

    @Test func everyPDURoundTrips() throws {
        let pdus: [PDU] = [
            .associateRequest(Self.request),
            .associateAccept(
                AssociateAccept(
                    calledAETitle: "TM_RRK", callingAETitle: "STORESCU",
                    results: [.init(id: 1, result: .acceptance, transferSyntax: "1.2.840.10008.1.2")],
                    user: UserInformation(maximumLength: 0, implementationClassUID: "1.2"))),
            .associateReject(.callingAETitleNotRecognised),
            .data([PDV(contextID: 3, isCommand: true, isLast: true, data: ByteBuffer(bytes: [1, 2, 3, 4]))]),
            .releaseRequest, .releaseResponse, .abort(Abort(source: 2, reason: 6)),
        ]
        for pdu in pdus {
            let (type, body) = Self.body(Self.encoded(pdu))
            #expect(try PDU.decode(type: type, body: body) == pdu)
        }
    }

    @Test func malformedPDUsCarryTheirAbortReason() {
        #expect(throws: DIMSEError.malformedPDU("unknown PDU type 0x9", unrecognised: true)) {
            try PDU.decode(type: 9, body: ByteBuffer())
        }
        // A PDV item whose length runs past its PDU.
        var data = ByteBuffer()
        data.writeInteger(UInt32(100))
        data.writeBytes([1, 3, 0, 0])
        do {
            _ = try PDU.decode(type: 4, body: data)
            Issue.record("accepted a PDV that overruns its PDU")
        } catch { #expect(error.abortReason == 6) }
        // An item type the standard does not define in a request.
        var (_, body) = Self.body(Self.encoded(.associateRequest(Self.request)))
        body.writeBytes([0x77, 0, 0, 0])
        do {
            _ = try PDU.decode(type: 1, body: body)
            Issue.record("accepted an unknown item")
        } catch { #expect(error.abortReason == 4) }
        // Truncated anywhere, a request never parses.
        let (_, whole) = Self.body(Self.encoded(.associateRequest(Self.request)))
        for cut in stride(from: 0, to: whole.readableBytes, by: 7) {
            let truncated = whole.getSlice(at: whole.readerIndex, length: cut)!
            #expect(throws: DIMSEError.self) { try PDU.decode(type: 1, body: truncated) }
        }
    }

    /// Found by the `pdu` fuzz target: an AE title or UID with bytes outside their repertoire was
    /// taken as given (and, decoded lossily, would not survive being written back).
    @Test func aeTitlesAndUIDsOutsideTheirRepertoireAreRefusedWithReason6() throws {
        for title in ["TM\u{FF}RRK", "TM\\RRK", "TM\nRRK", "TM\u{0}RRK"] {
            var request = Self.request
            request.callingAETitle = title
            let (_, body) = Self.body(Self.encoded(.associateRequest(request)))
            do {
                _ = try PDU.decode(type: 1, body: body)
                Issue.record("accepted the calling AE title \(Array(title.utf8))")
            } catch { #expect(error.abortReason == 6) }
        }
        var request = Self.request
        request.contexts[0].abstractSyntax = "1.2.840.10008.1.1\u{7}"
        let (_, body) = Self.body(Self.encoded(.associateRequest(request)))
        do {
            _ = try PDU.decode(type: 1, body: body)
            Issue.record("accepted an abstract syntax with a control character")
        } catch { #expect(error.abortReason == 6) }
    }

    @Test func commandSetsRoundTripInImplicitLittleEndian() throws {
        let command = DIMSECommand(
            field: DIMSECommand.Field.cStoreRQ, messageID: 7, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
            affectedSOPInstanceUID: "1.2.3", priority: 0, hasDataSet: true)
        let decoded = try DIMSECommand.decode(command.encode())
        #expect(decoded == command)
        let response = decoded.response(status: 0xC000, errorComment: String(repeating: "x", count: 100))
        let back = try DIMSECommand.decode(response.encode())
        #expect(back.field == DIMSECommand.Field.cStoreRSP)
        #expect(back.messageIDBeingRespondedTo == 7)
        #expect(back.affectedSOPInstanceUID == "1.2.3")
        #expect(back.errorComment?.count == 64)
        #expect(!back.hasDataSet)
        // (0000,0000) group length first, and it counts the rest.
        var bytes = command.encode()
        #expect(bytes.readInteger(endianness: .little, as: UInt32.self) == 0)
        #expect(bytes.readInteger(endianness: .little, as: UInt32.self) == 4)
        #expect(Int(bytes.readInteger(endianness: .little, as: UInt32.self)!) == bytes.readableBytes)
    }

    @Test func queryIdentifiersRoundTripInEverySyntaxTheyUse() throws {
        for syntax in [TransferSyntax.implicitVRLittleEndian, .explicitVRLittleEndian, .explicitVRBigEndian] {
            let encoded = QueryDataSet.encode(
                [
                    (.patientID, nil, "9434765919"), (.studyDate, nil, "20260101-20261231"),
                    (.studyInstanceUID, nil, nil),
                ],
                transferSyntax: syntax)
            let decoded = try QueryDataSet.decode(encoded, transferSyntax: syntax)
            #expect(decoded.string(.patientID) == "9434765919")
            #expect(decoded.string(.studyDate) == "20260101-20261231")
            #expect(decoded.string(.studyInstanceUID) == "")
        }
    }
}
