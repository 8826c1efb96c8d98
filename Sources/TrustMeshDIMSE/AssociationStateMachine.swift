package import NIOCore
package import TrustMeshDICOM

/// One association seen from the acceptor (SCP) side, as a pure state machine: each event returns
/// the actions to carry out (PS3.8 §9.2, the acceptor's states Sta2, Sta6 and Sta13 and the
/// transitions between them). No I/O, no clock: ``AssociationDriver`` does what the actions say.
///
/// - Sta2 (``State/awaitingRequest``): transport open, ARTIM running, waiting for A-ASSOCIATE-RQ.
/// - Sta6 (``State/associated``): P-DATA-TF reassembled into DIMSE messages; the idle timer runs
///   whenever the node is not itself serving a message.
/// - Anything unexpected or malformed: A-ABORT (source 2, the reason PS3.8 Table 9-26 gives) and
///   the transport is closed.
package struct AssociationStateMachine: Sendable {
    package struct Settings: Sendable {
        package var aeTitle: String
        package var checkCalledAETitle: Bool
        /// Calling AE titles allowed to associate; nil allows any.
        package var allowedCallingAETitles: Set<String>?
        /// Largest P-DATA-TF variable field this node receives; advertised in A-ASSOCIATE-AC.
        package var maximumPDULength: UInt32
        /// ARTIM: how long a new connection has to complete its A-ASSOCIATE-RQ, and how long an
        /// association may stay idle.
        package var timeout: Duration
        /// Largest command set accepted (command sets are a few hundred bytes).
        package var maximumCommandLength: Int = 64 << 10
        package var implementationClassUID: String
        package var implementationVersionName: String

        package init(
            aeTitle: String, checkCalledAETitle: Bool = false, allowedCallingAETitles: Set<String>? = nil,
            maximumPDULength: UInt32 = 256 << 10, timeout: Duration = .seconds(30),
            implementationClassUID: String = DICOMWriter.implementationClassUID,
            implementationVersionName: String = DICOMWriter.implementationVersionName
        ) {
            self.aeTitle = aeTitle
            self.checkCalledAETitle = checkCalledAETitle
            self.allowedCallingAETitles = allowedCallingAETitles
            self.maximumPDULength = maximumPDULength
            self.timeout = timeout
            self.implementationClassUID = implementationClassUID
            self.implementationVersionName = implementationVersionName
        }
    }

    /// A presentation context the node accepted.
    package struct AcceptedContext: Sendable, Equatable {
        package var abstractSyntax: String
        package var transferSyntax: TransferSyntax
        package var service: SOPClasses.Service
    }

    /// Who is associated, for logs and for the services.
    package struct Peer: Sendable, Equatable {
        package var callingAETitle: String
        package var calledAETitle: String
        /// The peer's largest P-DATA-TF variable field; 0 = no limit.
        package var maximumPDULength: UInt32
        package var implementationClassUID: String
    }

    /// A complete command set: what the data set fragments that follow (if any) belong to.
    package struct MessageStart: Sendable, Equatable {
        package var contextID: UInt8
        package var context: AcceptedContext
        package var command: DIMSECommand
    }

    package enum Action: Sendable, Equatable {
        case send(PDU)
        /// Arm the timer, replacing any armed one; it reports back with the same id.
        case armTimer(id: UInt64, Duration)
        case disarmTimer
        case close
        case accepted(Peer, [UInt8: AcceptedContext])
        case rejected(AssociateReject, reason: String)
        /// The node aborted the association (an A-ABORT was sent, or ARTIM closed the transport).
        case aborted(reason: String)
        case peerAborted
        case released
        case beginMessage(MessageStart)
        /// A fragment of the current message's data set, in order.
        case dataFragment(ByteBuffer)
        /// The current message is complete; serve it, then call ``responded()``.
        case endMessage
    }

    package enum State: Sendable, Equatable {
        case idle
        case awaitingRequest
        case associated
        case closed
    }

    private enum Assembly: Sendable, Equatable {
        case awaitingCommand
        case command(contextID: UInt8, ByteBuffer)
        case data(contextID: UInt8)
    }

    package private(set) var state: State = .idle
    package let settings: Settings
    private var overCapacity: Bool
    private var timerID: UInt64 = 0
    private var contexts: [UInt8: AcceptedContext] = [:]
    private var assembly: Assembly = .awaitingCommand

    /// - Parameter overCapacity: the node already serves as many associations as it allows; the
    ///   request is read and then rejected as transient (PS3.8 Table 9-21: local limit exceeded).
    package init(settings: Settings, overCapacity: Bool = false) {
        self.settings = settings
        self.overCapacity = overCapacity
    }

    /// The transport connection is open: start ARTIM (PS3.8 §9.2, event 5 → Sta2).
    package mutating func connected() -> [Action] {
        guard state == .idle else { return [] }
        state = .awaitingRequest
        return [arm()]
    }

    /// A PDU arrived whole and well-formed.
    /// - Parameter overCapacity: with an A-ASSOCIATE-RQ: the node serves as many associations as it
    ///   allows (counted from their requests, not their connections); the request is rejected as
    ///   transient (PS3.8 Table 9-21: local limit exceeded).
    package mutating func received(_ pdu: PDU, overCapacity: Bool = false) -> [Action] {
        if overCapacity { self.overCapacity = true }
        switch (state, pdu) {
        case (.closed, _), (.idle, _):
            return []
        case (_, .abort):
            state = .closed
            return [.peerAborted, .close]
        case (.awaitingRequest, .associateRequest(let request)):
            return negotiate(request)
        case (.awaitingRequest, _):
            return abort(.unexpectedPDU("\(pdu.kind) before A-ASSOCIATE-RQ"))
        case (.associated, .data(let values)):
            return receiveData(values)
        case (.associated, .releaseRequest):
            guard assembly == .awaitingCommand else {
                return abort(.unexpectedPDU("A-RELEASE-RQ in the middle of a DIMSE message"))
            }
            state = .closed
            return [.disarmTimer, .send(.releaseResponse), .released, .close]
        case (.associated, _):
            return abort(.unexpectedPDU("\(pdu.kind) on an established association"))
        }
    }

    /// The bytes could not be read as a PDU (or exceeded the limit for their type).
    package mutating func malformed(_ error: DIMSEError) -> [Action] {
        guard state == .awaitingRequest || state == .associated else { return [] }
        return abort(error)
    }

    /// The node decided to abort (e.g. a data set over its limit, or a file it could not write).
    package mutating func abortLocally(_ error: DIMSEError) -> [Action] {
        guard state == .awaitingRequest || state == .associated else { return [] }
        return abort(error)
    }

    /// A timer armed with `id` fired. Stale timers (re-armed or disarmed since) are ignored.
    package mutating func timerExpired(id: UInt64) -> [Action] {
        guard id == timerID else { return [] }
        switch state {
        case .awaitingRequest:
            // PS3.8 §9.2, Sta2 + ARTIM expiry: close the transport, no PDU.
            state = .closed
            return [.aborted(reason: "no complete A-ASSOCIATE-RQ within \(settings.timeout)"), .close]
        case .associated:
            state = .closed
            return [
                .send(.abort(Abort(source: 2, reason: 0))), .aborted(reason: "idle for \(settings.timeout)"), .close,
            ]
        case .idle, .closed:
            return []
        }
    }

    /// The node has sent its response(s) to the last message: the idle timer runs again.
    package mutating func responded() -> [Action] {
        guard state == .associated else { return [] }
        return [arm()]
    }

    /// The transport closed under us (peer dropped, or the node is stopping).
    package mutating func closed() -> [Action] {
        let wasMidMessage = assembly != .awaitingCommand
        let wasOpen = state == .awaitingRequest || state == .associated
        state = .closed
        guard wasOpen else { return [] }
        return [
            .aborted(reason: wasMidMessage ? "connection lost in the middle of a DIMSE message" : "connection lost")
        ]
    }

    // MARK: -

    private mutating func arm() -> Action {
        timerID &+= 1
        return .armTimer(id: timerID, settings.timeout)
    }

    private mutating func abort(_ error: DIMSEError) -> [Action] {
        state = .closed
        timerID &+= 1
        return [
            .disarmTimer, .send(.abort(Abort(source: 2, reason: error.abortReason))),
            .aborted(reason: error.description), .close,
        ]
    }

    private mutating func reject(_ reject: AssociateReject, _ reason: String) -> [Action] {
        state = .closed
        timerID &+= 1
        return [.disarmTimer, .send(.associateReject(reject)), .rejected(reject, reason: reason), .close]
    }

    private mutating func negotiate(_ request: AssociateRequest) -> [Action] {
        guard request.protocolVersion & 1 == 1 else {
            return reject(.protocolVersionNotSupported, "protocol version \(request.protocolVersion) not supported")
        }
        guard request.applicationContext == dicomApplicationContext else {
            return reject(
                .applicationContextNotSupported, "application context \(request.applicationContext) not supported")
        }
        if settings.checkCalledAETitle && request.calledAETitle != settings.aeTitle {
            return reject(
                .calledAETitleNotRecognised,
                "called AE title \"\(request.calledAETitle)\" is not this node's (\(settings.aeTitle))")
        }
        if let allowed = settings.allowedCallingAETitles, !allowed.contains(request.callingAETitle) {
            return reject(
                .callingAETitleNotRecognised, "calling AE title \"\(request.callingAETitle)\" not recognised")
        }
        if overCapacity {
            return reject(.localLimitExceeded, "too many associations at once")
        }
        var results: [PresentationContextResult] = []
        for proposal in request.contexts {
            guard let service = SOPClasses.service(for: proposal.abstractSyntax) else {
                results.append(.init(id: proposal.id, result: .abstractSyntaxNotSupported, transferSyntax: ""))
                continue
            }
            let accepted = SOPClasses.transferSyntaxes(for: service)
            // The requestor's order of preference (PS3.8 §9.3.2.2): the first it lists that we take.
            guard let syntax = proposal.transferSyntaxes.first(where: accepted.contains) else {
                results.append(
                    .init(
                        id: proposal.id, result: .transferSyntaxesNotSupported,
                        transferSyntax: proposal.transferSyntaxes.first ?? ""))
                continue
            }
            results.append(.init(id: proposal.id, result: .acceptance, transferSyntax: syntax))
            contexts[proposal.id] = AcceptedContext(
                abstractSyntax: proposal.abstractSyntax, transferSyntax: TransferSyntax(uid: syntax), service: service)
        }
        let accept = AssociateAccept(
            calledAETitle: request.calledAETitle, callingAETitle: request.callingAETitle, results: results,
            user: UserInformation(
                maximumLength: settings.maximumPDULength, implementationClassUID: settings.implementationClassUID,
                implementationVersionName: settings.implementationVersionName))
        state = .associated
        let peer = Peer(
            callingAETitle: request.callingAETitle, calledAETitle: request.calledAETitle,
            maximumPDULength: request.user.maximumLength, implementationClassUID: request.user.implementationClassUID)
        return [.send(.associateAccept(accept)), .accepted(peer, contexts), arm()]
    }

    private mutating func receiveData(_ values: [PDV]) -> [Action] {
        var actions: [Action] = [arm()]
        for value in values {
            guard let context = contexts[value.contextID] else {
                return abort(.malformedPDU("a PDV on presentation context \(value.contextID), which was not accepted"))
            }
            if assembly == .awaitingCommand {
                guard value.isCommand else {
                    return abort(.unexpectedParameter("a data set fragment with no command before it"))
                }
                assembly = .command(contextID: value.contextID, ByteBuffer())
            }
            switch assembly {
            case .awaitingCommand:
                continue  // set just above
            case .command(let contextID, var buffer):
                guard value.isCommand else {
                    return abort(.unexpectedParameter("a data set fragment before its command was complete"))
                }
                guard contextID == value.contextID else {
                    return abort(.unexpectedParameter("a command's fragments on two presentation contexts"))
                }
                var data = value.data
                guard buffer.readableBytes + data.readableBytes <= settings.maximumCommandLength else {
                    return abort(.malformedPDU("a command set longer than \(settings.maximumCommandLength) bytes"))
                }
                buffer.writeBuffer(&data)
                guard value.isLast else {
                    assembly = .command(contextID: contextID, buffer)
                    continue
                }
                let command: DIMSECommand
                do {
                    command = try DIMSECommand.decode(buffer)
                } catch {
                    return abort(error)
                }
                actions.append(.beginMessage(MessageStart(contextID: contextID, context: context, command: command)))
                if command.hasDataSet {
                    assembly = .data(contextID: contextID)
                } else {
                    assembly = .awaitingCommand
                    actions += endMessage()
                }
            case .data(let contextID):
                guard !value.isCommand else {
                    return abort(.unexpectedParameter("a command fragment before the data set was complete"))
                }
                guard contextID == value.contextID else {
                    return abort(.unexpectedParameter("a data set's fragments on two presentation contexts"))
                }
                actions.append(.dataFragment(value.data))
                if value.isLast {
                    assembly = .awaitingCommand
                    actions += endMessage()
                }
            }
        }
        return actions
    }

    /// The node now serves the message: no idle timer until it has responded.
    private mutating func endMessage() -> [Action] {
        timerID &+= 1
        return [.disarmTimer, .endMessage]
    }
}
