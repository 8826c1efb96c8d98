import NIOCore
import Testing
import TrustMeshDICOM

@testable import TrustMeshDIMSE

/// The association state machine on its own: events in, actions out, no sockets, no clock.
@Suite struct AssociationStateMachineTests {
    static let settings = AssociationStateMachine.Settings(
        aeTitle: "TM_RRK", allowedCallingAETitles: ["PACS"], timeout: .seconds(5))

    static func request(calling: String = "PACS", contexts: [PresentationContextProposal]) -> PDU {
        .associateRequest(
            AssociateRequest(
                calledAETitle: "TM_RRK", callingAETitle: calling, contexts: contexts,
                user: UserInformation(maximumLength: 16384, implementationClassUID: "1.2")))
    }

    static let ct = PresentationContextProposal(
        id: 1, abstractSyntax: SyntheticStudy.ctImageStorage,
        transferSyntaxes: ["1.2.840.10008.1.2.4.999", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2"])

    static func accepted() -> AssociationStateMachine {
        var machine = AssociationStateMachine(settings: settings)
        _ = machine.connected()
        _ = machine.received(request(contexts: [ct]))
        return machine
    }

    @Test func negotiationTakesTheRequestorsFirstAcceptableSyntaxAndRefusesUnknownClasses() {
        var machine = AssociationStateMachine(settings: Self.settings)
        #expect(machine.connected() == [.armTimer(id: 1, .seconds(5))])
        let unknown = PresentationContextProposal(
            id: 3, abstractSyntax: "1.2.3.4", transferSyntaxes: ["1.2.840.10008.1.2"])
        let compressedEcho = PresentationContextProposal(
            id: 5, abstractSyntax: SOPClasses.verification, transferSyntaxes: ["1.2.840.10008.1.2.4.50"])
        let actions = machine.received(Self.request(contexts: [Self.ct, unknown, compressedEcho]))
        guard case .send(.associateAccept(let accept)) = actions.first else {
            Issue.record("not accepted: \(actions)")
            return
        }
        #expect(
            accept.results.map(\.result) == [.acceptance, .abstractSyntaxNotSupported, .transferSyntaxesNotSupported])
        #expect(accept.results[0].transferSyntax == "1.2.840.10008.1.2.5")  // RLE, as proposed first
        #expect(accept.user.maximumLength == 256 << 10)
        #expect(machine.state == .associated)
    }

    @Test func aCallingAETitleNotOnTheListIsRejected() {
        var machine = AssociationStateMachine(settings: Self.settings)
        _ = machine.connected()
        let actions = machine.received(Self.request(calling: "STRANGER", contexts: [Self.ct]))
        #expect(actions.contains(.send(.associateReject(.callingAETitleNotRecognised))))
        #expect(actions.last == .close)
        #expect(machine.state == .closed)
    }

    @Test func messagesAreReassembledFromFragmentsAndTheIdleTimerPausesWhileServing() throws {
        var machine = Self.accepted()
        let command = DIMSECommand(
            field: DIMSECommand.Field.cStoreRQ, messageID: 1, affectedSOPClassUID: SyntheticStudy.ctImageStorage,
            affectedSOPInstanceUID: "1.2.3", priority: 0, hasDataSet: true
        ).encode()
        let half = command.readableBytes / 2
        // The command in two fragments, then the data set in two, in one PDU.
        let actions = machine.received(
            .data([
                PDV(contextID: 1, isCommand: true, isLast: false, data: command.getSlice(at: 0, length: half)!),
                PDV(
                    contextID: 1, isCommand: true, isLast: true,
                    data: command.getSlice(at: half, length: command.readableBytes - half)!),
                PDV(contextID: 1, isCommand: false, isLast: false, data: ByteBuffer(bytes: [1, 2])),
                PDV(contextID: 1, isCommand: false, isLast: true, data: ByteBuffer(bytes: [3])),
            ]))
        let kinds = actions.map { action -> String in
            switch action {
            case .armTimer: "arm"
            case .disarmTimer: "disarm"
            case .beginMessage: "begin"
            case .dataFragment(let bytes): "data\(bytes.readableBytes)"
            case .endMessage: "end"
            default: "\(action)"
            }
        }
        #expect(kinds == ["arm", "begin", "data2", "data1", "disarm", "end"])
        // A timer armed before the message was served is stale by now.
        #expect(machine.timerExpired(id: 2) == [])
        #expect(machine.responded() == [.armTimer(id: 5, .seconds(5))])
        #expect(machine.state == .associated)
    }

    @Test func protocolViolationsAbortWithTheStandardReason() {
        var dataFirst = Self.accepted()
        let actions = dataFirst.received(
            .data([PDV(contextID: 1, isCommand: false, isLast: true, data: ByteBuffer(bytes: [0]))]))
        #expect(actions.contains(.send(.abort(Abort(source: 2, reason: 5)))))
        var unknownContext = Self.accepted()
        #expect(
            unknownContext.received(.data([PDV(contextID: 9, isCommand: true, isLast: true, data: ByteBuffer())]))
                .contains(.send(.abort(Abort(source: 2, reason: 6)))))
        var twice = Self.accepted()
        #expect(twice.received(Self.request(contexts: [Self.ct])).contains(.send(.abort(Abort(source: 2, reason: 2)))))
        var stalled = AssociationStateMachine(settings: Self.settings)
        _ = stalled.connected()
        let expiry = stalled.timerExpired(id: 1)
        #expect(expiry.last == .close)
        #expect(!expiry.contains { if case .send = $0 { true } else { false } })  // ARTIM in Sta2: no PDU
        var idle = Self.accepted()
        #expect(idle.timerExpired(id: 2).contains(.send(.abort(Abort(source: 2, reason: 0)))))
    }
}
