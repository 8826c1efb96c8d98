import NIOCore
import NIOPosix
import Synchronization
import TrustMeshDICOM

/// An association the node opens as requestor (SCU) to send instances by C-STORE: the
/// sub-operations of a C-MOVE (PS3.4 §C.4.2.3). The requestor's side of PS3.8 §9.2: A-ASSOCIATE-RQ
/// and its AC, RJ or ABORT (Sta5), P-DATA-TF both ways (Sta6), A-RELEASE-RQ and its RP (Sta7).
///
/// Over SwiftNIO with the listener's own PDU decoder and encoder, so the framing limits and the
/// strict parsing are the same both ways. Every wait (connect, the association's answer, each
/// C-STORE-RSP, the release, and each write the peer's TCP window holds back) is bounded by
/// `timeout`: a watchdog closes the connection when it expires, and the error says which wait it was.
package enum StoreSCU {
    package struct Settings: Sendable {
        package var host: String
        package var port: Int
        package var callingAETitle: String
        package var calledAETitle: String
        package var timeout: Duration
        /// Largest P-DATA-TF this node receives (advertised in the A-ASSOCIATE-RQ).
        package var maximumPDULength: UInt32 = 256 << 10
        /// Largest P-DATA-TF this node sends, whatever the peer accepts (its "no limit" included).
        package var maximumSendLength: Int = 256 << 10

        package init(host: String, port: Int, callingAETitle: String, calledAETitle: String, timeout: Duration) {
            self.host = host
            self.port = port
            self.callingAETitle = callingAETitle
            self.calledAETitle = calledAETitle
            self.timeout = timeout
        }
    }

    /// Connects, negotiates `contexts`, runs `body`, then releases the association (or aborts it
    /// when `body` throws).
    /// - Throws: ``DIMSEError/peer(_:)`` when the peer cannot be reached, rejects or aborts the
    ///   association, breaks the protocol or does not answer within the timeout; or what `body` throws.
    package static func withAssociation<R: Sendable>(
        _ settings: Settings, contexts: [PresentationContextProposal],
        _ body: (inout StoreAssociation) async throws -> R
    ) async throws -> R {
        let target = "\(settings.calledAETitle) at \(settings.host):\(settings.port)"
        let channel: NIOAsyncChannel<AssociationEvent, AssociationOutput>
        do {
            let maximum = Int(settings.maximumPDULength)
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(settings.timeout))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: settings.host, port: settings.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<AssociationEvent, AssociationOutput>.association(
                            channel, maximumPDU: maximum)
                    }
                }
        } catch {
            throw DIMSEError.peer("cannot connect to \(target): \(error)")
        }
        let watchdog = Watchdog(channel: channel.channel, timeout: settings.timeout)
        defer { watchdog.disarm() }
        return try await channel.executeThenClose { inbound, outbound in
            var association = StoreAssociation(
                inbound: inbound.makeAsyncIterator(), outbound: outbound, watchdog: watchdog, peer: target,
                maximumSendLength: settings.maximumSendLength)
            try await association.open(
                AssociateRequest(
                    calledAETitle: settings.calledAETitle, callingAETitle: settings.callingAETitle,
                    contexts: contexts,
                    user: UserInformation(
                        maximumLength: settings.maximumPDULength,
                        implementationClassUID: DICOMWriter.implementationClassUID,
                        implementationVersionName: DICOMWriter.implementationVersionName)))
            let result: R
            do {
                result = try await body(&association)
            } catch {
                await association.abort()
                throw error
            }
            await association.release()
            return result
        }
    }
}

/// An established association as requestor: send instances by C-STORE, one at a time.
package struct StoreAssociation {
    private var inbound: NIOAsyncChannelInboundStream<AssociationEvent>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<AssociationOutput>
    private let watchdog: Watchdog
    /// `AE at host:port`, for messages.
    let peer: String
    private let maximumSendLength: Int
    /// Accepted presentation contexts: ID → (abstract syntax, transfer syntax).
    package private(set) var accepted: [UInt8: (abstractSyntax: String, transferSyntax: String)] = [:]
    /// The peer's largest P-DATA-TF; this node's ceiling when it gave none.
    private var sendLength = 0
    private var nextMessageID: UInt16 = 1

    fileprivate init(
        inbound: NIOAsyncChannelInboundStream<AssociationEvent>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<AssociationOutput>, watchdog: Watchdog, peer: String,
        maximumSendLength: Int
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.watchdog = watchdog
        self.peer = peer
        self.maximumSendLength = maximumSendLength
    }

    /// The accepted context for an SOP class in a transfer syntax, if any.
    package func contextID(abstractSyntax: String, transferSyntax: String) -> UInt8? {
        accepted.first { $0.value.abstractSyntax == abstractSyntax && $0.value.transferSyntax == transferSyntax }?.key
    }

    fileprivate mutating func open(_ request: AssociateRequest) async throws {
        try await write(.associateRequest(request), "sending A-ASSOCIATE-RQ")
        switch try await next("waiting for A-ASSOCIATE-AC") {
        case .associateAccept(let accept):
            for result in accept.results where result.result == .acceptance {
                guard let proposal = request.contexts.first(where: { $0.id == result.id }),
                    proposal.transferSyntaxes.contains(result.transferSyntax)
                else { continue }
                accepted[result.id] = (proposal.abstractSyntax, result.transferSyntax)
            }
            let peerMaximum = Int(accept.user.maximumLength)
            sendLength = peerMaximum == 0 ? maximumSendLength : min(peerMaximum, maximumSendLength)
        case .associateReject(let reject):
            throw DIMSEError.peer(
                "\(peer) rejected the association (result \(reject.result), source \(reject.source), "
                    + "reason \(reject.reason))")
        case .abort(let abort):
            throw DIMSEError.peer("\(peer) aborted the association (source \(abort.source), reason \(abort.reason))")
        case let other:
            await self.abort()
            throw DIMSEError.peer("\(peer) answered A-ASSOCIATE-RQ with \(other.kind)")
        }
    }

    /// Sends one instance by C-STORE and returns the status of its C-STORE-RSP.
    /// - Parameters:
    ///   - contextID: an accepted context whose abstract syntax is `sopClassUID`.
    ///   - dataSet: hands the data set's bytes to its argument, piece by piece, in order; it is cut
    ///     into PDVs of the peer's maximum length as it comes, so memory stays at one piece and one PDU.
    /// - Throws: ``DIMSEError/peer(_:)`` if the peer fails; what `dataSet` throws (the association
    ///   then cannot continue: the data set is half sent).
    package mutating func store(
        contextID: UInt8, sopClassUID: String, sopInstanceUID: String, moveOriginator: (String, UInt16)?,
        dataSet: (_ write: (ArraySlice<UInt8>) async throws -> Void) async throws -> Void
    ) async throws -> DIMSEStatus {
        let messageID = nextMessageID
        nextMessageID &+= 1
        var command = DIMSECommand(
            field: DIMSECommand.Field.cStoreRQ, messageID: messageID, affectedSOPClassUID: sopClassUID,
            affectedSOPInstanceUID: sopInstanceUID, priority: 0, hasDataSet: true)
        command.moveOriginatorAETitle = moveOriginator?.0
        command.moveOriginatorMessageID = moveOriginator?.1
        try await sendFragments(command.encode(), contextID: contextID, isCommand: true, isLast: true)
        // The data set, cut as it comes: a PDV is sent once more bytes follow it, so the last one,
        // flagged last (PS3.8 Annex E.2), is the one still pending when `dataSet` returns.
        var pending = ByteBuffer()
        let room = sendLength - 6
        try await dataSet { bytes in
            pending.writeBytes(bytes)
            while pending.readableBytes > room {
                try await sendFragments(
                    pending.readSlice(length: room)!, contextID: contextID, isCommand: false, isLast: false)
            }
            pending.discardReadBytes()
        }
        try await sendFragments(pending, contextID: contextID, isCommand: false, isLast: true)

        // The C-STORE-RSP: a command set, possibly in several fragments, and no data set.
        var response = ByteBuffer()
        while true {
            switch try await next("waiting for the C-STORE-RSP of \(sopInstanceUID)") {
            case .data(let values):
                for value in values {
                    guard value.isCommand, value.contextID == contextID else {
                        await abort()
                        throw DIMSEError.peer("\(peer) sent a data set or another context in a C-STORE-RSP")
                    }
                    var data = value.data
                    guard response.readableBytes + data.readableBytes <= 64 << 10 else {
                        await abort()
                        throw DIMSEError.peer("\(peer) sent a C-STORE-RSP longer than 64 KiB")
                    }
                    response.writeBuffer(&data)
                    guard value.isLast else { continue }
                    let answer: DIMSECommand
                    do {
                        answer = try DIMSECommand.decode(response)
                    } catch {
                        await abort()
                        throw DIMSEError.peer("\(peer) sent an unreadable C-STORE-RSP: \(error)")
                    }
                    guard answer.field == DIMSECommand.Field.cStoreRSP, answer.messageIDBeingRespondedTo == messageID,
                        let status = answer.status
                    else {
                        await abort()
                        throw DIMSEError.peer("\(peer) answered C-STORE-RQ \(messageID) with something else")
                    }
                    return DIMSEStatus(code: status, comment: answer.errorComment)
                }
            case .abort(let abort):
                throw DIMSEError.peer(
                    "\(peer) aborted the association (source \(abort.source), reason \(abort.reason))")
            case let other:
                await abort()
                throw DIMSEError.peer("\(peer) sent \(other.kind) instead of a C-STORE-RSP")
            }
        }
    }

    /// A-RELEASE-RQ, then up to the timeout for A-RELEASE-RP; failures are not the caller's concern
    /// any more (every instance has been answered).
    fileprivate mutating func release() async {
        do {
            try await write(.releaseRequest, "sending A-RELEASE-RQ")
            while true {
                switch try await next("waiting for A-RELEASE-RP") {
                case .releaseResponse, .abort: return
                default: continue
                }
            }
        } catch {
            return
        }
    }

    /// A-ABORT (source 0, service user); the connection is closed after it.
    fileprivate func abort() async {
        try? await outbound.write(.pdu(.abort(Abort(source: 0, reason: 0))))
    }

    private func sendFragments(_ bytes: ByteBuffer, contextID: UInt8, isCommand: Bool, isLast: Bool) async throws {
        let values = PDV.fragments(
            of: bytes, contextID: contextID, isCommand: isCommand, isLast: isLast, room: sendLength - 6)
        for value in values {
            try await write(.data([value]), isCommand ? "sending a command" : "sending a data set")
        }
    }

    private func write(_ pdu: PDU, _ what: String) async throws {
        watchdog.arm()
        defer { watchdog.disarm() }
        do {
            try await outbound.write(.pdu(pdu))
        } catch {
            throw watchdog.explain(what, peer: peer, error)
        }
    }

    private mutating func next(_ what: String) async throws -> PDU {
        watchdog.arm()
        defer { watchdog.disarm() }
        while true {
            let event: AssociationEvent?
            do {
                event = try await inbound.next()
            } catch {
                throw watchdog.explain(what, peer: peer, error)
            }
            switch event {
            case .pdu(let pdu): return pdu
            case .malformed(let error):
                await abort()
                throw DIMSEError.peer("\(peer) sent a malformed PDU: \(error)")
            case .timerExpired: continue  // the listener's timer is not used on this side
            case nil: throw watchdog.explain(what, peer: peer, nil)
            }
        }
    }
}

@available(*, unavailable)
extension StoreAssociation: Sendable {}

/// Closes the connection when a wait outlasts the timeout, so every wait ends; remembers that it
/// did, so the error names the wait rather than a closed channel.
private final class Watchdog: Sendable {
    let channel: any Channel
    let timeout: Duration
    private let scheduled = Mutex<Scheduled<Void>?>(nil)
    private let fired = Atomic<Bool>(false)

    init(channel: any Channel, timeout: Duration) {
        self.channel = channel
        self.timeout = timeout
    }

    func arm() {
        let task = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            fired.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        scheduled.withLock {
            $0?.cancel()
            $0 = task
        }
    }

    func disarm() {
        scheduled.withLock {
            $0?.cancel()
            $0 = nil
        }
    }

    func explain(_ what: String, peer: String, _ error: (any Error)?) -> DIMSEError {
        if fired.load(ordering: .relaxed) { return .peer("\(peer): no progress within \(timeout) \(what)") }
        return .peer("\(peer) closed the connection \(what)" + (error.map { ": \($0)" } ?? ""))
    }
}
