public import Foundation
public import Logging
import NIOCore
import NIOPosix
import Synchronization
public import TrustMeshModel

/// What the node does with what the HL7 listener decides: audit it. The listener decides who may
/// connect, reads and maps each message, and acknowledges; the node writes its audit log.
public protocol HL7FeedAuditor: Sendable {
    /// Audits an accepted event (`feedReceived`), before it is acknowledged AA.
    /// - Throws: if the audit write failed: the message is then acknowledged AE and not delivered.
    func accepted(_ event: FeedEvent, address: String, messageType: String) async throws
    /// Audits a message answered AE or AR (`feedRefused`).
    /// - Parameters:
    ///   - actor: `HL7 v2 <MSH-3>^<MSH-4> from <address>`, or `HL7 v2 sender at <address>` when the
    ///     header could not be read.
    func refused(_ error: HL7Error, actor: String, address: String, controlID: String?, messageType: String?) async
    /// Audits a connection closed before any byte was read (an address not allowed, too many
    /// connections). Refusals like these can come in floods: aggregate them per address.
    func refusedConnection(from address: String, reason: String) async
}

/// The node's HL7 v2 door: MLLP over TCP from the trust's PAS and RIS, on an allow-list of
/// addresses (deny by default), each message read, mapped to a ``FeedEvent``, audited, handed to
/// the pre-fetch engine, and acknowledged (docs/ARCHITECTURE.md, "HL7 v2 feed (issue 18)").
///
/// ```swift
/// let listener = HL7Listener(
///     configuration: .init(host: "127.0.0.1", port: 2575, allowed: [try HL7AddressRange("10.0.0.0/8")]),
///     auditor: auditor, deliver: { event in await prefetch.consider(event) }, logger: logger)
/// try await listener.run { port in print("HL7 v2 on \(port)") }
/// ```
public final class HL7Listener: Sendable {
    /// How the listener is set up.
    public struct Configuration: Sendable {
        /// The address to bind.
        public var host: String
        /// 0 lets the system choose (reported to `onListening`).
        public var port: Int
        /// Who may connect; a connection from any other address is closed before a byte is read.
        /// Empty: nobody.
        public var allowed: [HL7AddressRange]
        /// Largest message (one MLLP frame's content) accepted; larger is answered AR and the
        /// connection closed.
        public var maximumMessageBytes: Int
        /// A connection silent this long is closed.
        public var idleTimeout: Duration
        /// Connections open at once; more are closed on accept.
        public var maximumConnections: Int
        /// Messages remembered (sender and MSH-10) so a resend after a lost ACK is acknowledged
        /// without being delivered again.
        public var resendWindow: Int
        /// The zone of times without an offset.
        public var timeZone: TimeZone

        /// A configuration.
        public init(
            host: String, port: Int, allowed: [HL7AddressRange], maximumMessageBytes: Int = 1 << 20,
            idleTimeout: Duration = .seconds(300), maximumConnections: Int = 16, resendWindow: Int = 10_000,
            timeZone: TimeZone = HL7DateTime.london
        ) {
            self.host = host
            self.port = port
            self.allowed = allowed
            self.maximumMessageBytes = maximumMessageBytes
            self.idleTimeout = idleTimeout
            self.maximumConnections = maximumConnections
            self.resendWindow = resendWindow
            self.timeZone = timeZone
        }
    }

    /// The configuration.
    public let configuration: Configuration
    let auditor: any HL7FeedAuditor
    let deliver: @Sendable (FeedEvent) async throws -> Void
    let logger: Logger
    private let open = Mutex(0)
    private let recent: Mutex<ResendWindow>

    /// A listener.
    /// - Parameters:
    ///   - auditor: The node's audit of what the listener decides.
    ///   - deliver: Where accepted events go (the pre-fetch engine), after they are audited.
    public init(
        configuration: Configuration, auditor: some HL7FeedAuditor,
        deliver: @escaping @Sendable (FeedEvent) async throws -> Void, logger: Logger
    ) {
        self.configuration = configuration
        self.auditor = auditor
        self.deliver = deliver
        self.logger = logger
        recent = Mutex(ResendWindow(capacity: max(1, configuration.resendWindow)))
    }

    /// Reads, maps, audits and delivers one message, and says how to acknowledge it. The
    /// listener calls this for each frame; it needs no socket.
    /// - Parameters:
    ///   - bytes: The frame's content.
    ///   - address: The sender's IP address.
    public func process(_ bytes: [UInt8], from address: String) async -> HL7Acknowledgement {
        let message: HL7Message
        do {
            message = try HL7Message(parsing: bytes)
        } catch {
            return await reject(error, bytes: bytes, address: address)
        }
        let source = HL7FeedMapping.source(of: message, address: address)
        let type = (message.messageType ?? "") + "^" + (message.triggerEvent ?? "")
        let outcome: HL7FeedMapping.Outcome
        do {
            outcome = try HL7FeedMapping.map(message, source: source, timeZone: configuration.timeZone)
        } catch {
            logger.notice(
                "HL7 v2 message refused", metadata: ["peer": "\(address)", "at": "\(error.location)", "code": "AE"])
            await auditor.refused(
                error, actor: source, address: address, controlID: message.controlID, messageType: type)
            return HL7Acknowledgement(code: "AE", to: message, error: error)
        }
        guard case .event(let event) = outcome else { return HL7Acknowledgement(code: "AA", to: message) }
        let key = message.sender + "\u{1F}" + event.messageID
        guard recent.withLock({ $0.claim(key) }) else {
            logger.info("HL7 v2 message resent: acknowledged, not delivered again", metadata: ["peer": "\(address)"])
            return HL7Acknowledgement(code: "AA", to: message)
        }
        do {
            try await auditor.accepted(event, address: address, messageType: type)
        } catch {
            recent.withLock { $0.release(key) }
            logger.error("HL7 v2 message not audited: answered AE", metadata: ["peer": "\(address)"])
            return HL7Acknowledgement(
                code: "AE", to: message, error: .internalFailure("the node could not write its audit log; send again"))
        }
        do {
            try await deliver(event)
        } catch {
            recent.withLock { $0.release(key) }
            let failure = HL7Error.internalFailure("the node could not act on the message; send again")
            await auditor.refused(
                failure, actor: source, address: address, controlID: message.controlID, messageType: type)
            return HL7Acknowledgement(code: "AE", to: message, error: failure)
        }
        return HL7Acknowledgement(code: "AA", to: message)
    }

    /// Answers AR for a message that cannot be read, naming its sender when its header can be.
    private func reject(_ error: HL7Error, bytes: [UInt8], address: String) async -> HL7Acknowledgement {
        let text = String(validating: bytes, as: UTF8.self) ?? String(bytes.map { Character(Unicode.Scalar($0)) })
        let header = try? HL7Message(parsing: text, requireHeaderFields: false)
        let actor = header.map { HL7FeedMapping.source(of: $0, address: address) } ?? "HL7 v2 sender at \(address)"
        logger.notice(
            "HL7 v2 message refused", metadata: ["peer": "\(address)", "at": "\(error.location)", "code": "AR"])
        let type = header.map { ($0.messageType ?? "") + "^" + ($0.triggerEvent ?? "") }
        await auditor.refused(error, actor: actor, address: address, controlID: header?.controlID, messageType: type)
        return HL7Acknowledgement(code: "AR", to: header, error: error)
    }

    /// Whether `address` is allowed, and if so counts it as open.
    private func admit(_ address: String?) -> String? {
        guard let address, configuration.allowed.contains(where: { $0.contains(address) }) else {
            return "address not allowed"
        }
        return open.withLock { count in
            guard count < configuration.maximumConnections else {
                return "too many connections (\(configuration.maximumConnections))"
            }
            count += 1
            return nil
        }
    }

    /// Listens until the task is cancelled.
    /// - Parameter onListening: called with the bound port.
    /// - Throws: if the address cannot be bound.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let maximum = configuration.maximumMessageBytes
        let idle = TimeAmount.nanoseconds(
            configuration.idleTimeout.components.seconds * 1_000_000_000
                + configuration.idleTimeout.components.attoseconds / 1_000_000_000)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture { () -> Connection in
                    let address = channel.remoteAddress?.ipAddress
                    if let reason = self.admit(address) {
                        // Closed as it becomes active, before its first read.
                        try channel.pipeline.syncOperations.addHandler(CloseOnActive())
                        return .refused(address ?? "?", reason)
                    }
                    channel.closeFuture.whenComplete { _ in self.open.withLock { $0 -= 1 } }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle))
                    try channel.pipeline.syncOperations.addHandler(CloseOnIdle())
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MLLPDecoder(maximum: maximum)))
                    return .accepted(
                        try NIOAsyncChannel<MLLPDecoder.Frame, ByteBuffer>(wrappingChannelSynchronously: channel),
                        address ?? "?")
                }
            }
        let port = server.channel.localAddress?.port ?? configuration.port
        logger.info(
            "HL7 v2 listener up",
            metadata: [
                "port": "\(port)", "host": "\(configuration.host)",
                "allowed": "\(configuration.allowed.map(\.description).joined(separator: ","))",
            ])
        onListening(port)
        do {
            try await withTaskCancellationHandler {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } onCancel: {
                server.channel.close(promise: nil)
            }
        } catch {
            if !Task.isCancelled { throw error }
        }
        logger.info("HL7 v2 listener stopped", metadata: ["port": "\(port)"])
    }

    private enum Connection: Sendable {
        case accepted(NIOAsyncChannel<MLLPDecoder.Frame, ByteBuffer>, String)
        case refused(String, String)
    }

    private func serve(_ connection: Connection) async {
        switch connection {
        case .refused(let address, let reason):
            logger.notice("HL7 v2 connection refused", metadata: ["peer": "\(address)", "reason": "\(reason)"])
            await auditor.refusedConnection(from: address, reason: reason)
        case .accepted(let channel, let address):
            do {
                try await channel.executeThenClose { inbound, outbound in
                    for try await frame in inbound {
                        let ack: HL7Acknowledgement
                        switch frame {
                        case .message(let bytes):
                            ack = await process(bytes, from: address)
                        case .oversized(let prefix):
                            ack = await reject(
                                .unreadable(
                                    "MLLP", code: "207",
                                    "message larger than \(configuration.maximumMessageBytes) bytes; connection closed"),
                                bytes: prefix, address: address)
                        case .outsideFrame:
                            ack = await reject(
                                .unreadable("MLLP", "bytes outside a frame (expected 0x0B); connection closed"),
                                bytes: [], address: address)
                        }
                        try await outbound.write(ByteBuffer(bytes: ack.framed))
                        if case .message = frame { continue }
                        return
                    }
                }
            } catch {
                logger.debug("HL7 v2 connection ended", metadata: ["peer": "\(address)", "error": "\(error)"])
            }
        }
    }
}

/// The last messages accepted, by sender and control ID, oldest forgotten first.
struct ResendWindow {
    let capacity: Int
    private var keys: Set<String> = []
    private var order: [String] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    /// False when `key` was seen (a resend); else remembers it.
    mutating func claim(_ key: String) -> Bool {
        guard keys.insert(key).inserted else { return false }
        order.append(key)
        if order.count - head > capacity {
            keys.remove(order[head])
            head += 1
            if head > capacity {
                order.removeFirst(head)
                head = 0
            }
        }
        return true
    }

    /// Forgets `key` (its message was not acknowledged AA, so a resend is a new attempt).
    mutating func release(_ key: String) { keys.remove(key) }
}

/// Splits a byte stream into MLLP frames: 0x0B, the message, 0x1C 0x0D. Carriage returns and line
/// feeds between frames are skipped; any other byte there, or a frame over the limit, ends the
/// stream (the connection is answered AR and closed).
struct MLLPDecoder: ByteToMessageDecoder {
    /// One item of the stream.
    enum Frame: Sendable {
        case message([UInt8])
        /// Too large: the first bytes, for the header the reject echoes.
        case oversized([UInt8])
        case outsideFrame
    }

    typealias InboundOut = Frame
    let maximum: Int
    private var scanned = 1
    private var failed = false

    init(maximum: Int) { self.maximum = maximum }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if failed {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            return .needMoreData
        }
        while let byte = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), byte == 0x0D || byte == 0x0A {
            buffer.moveReaderIndex(forwardBy: 1)
        }
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
        guard first == MLLP.start else {
            failed = true
            context.fireChannelRead(wrapInboundOut(.outsideFrame))
            return .needMoreData
        }
        let view = buffer.readableBytesView
        var index = view.startIndex + scanned
        while index + 1 < view.endIndex {
            if view[index] == MLLP.end, view[index + 1] == 0x0D {
                let length = index - view.startIndex - 1
                scanned = 1
                if length > maximum {
                    failed = true
                    context.fireChannelRead(
                        wrapInboundOut(.oversized(Array(view[(view.startIndex + 1)...].prefix(4096)))))
                    return .needMoreData
                }
                let message = Array(view[(view.startIndex + 1)..<index])
                buffer.moveReaderIndex(forwardBy: length + 3)
                context.fireChannelRead(wrapInboundOut(.message(message)))
                return .continue
            }
            index += 1
        }
        scanned = max(1, index - view.startIndex)
        if view.count - 1 > maximum + 2 {
            failed = true
            context.fireChannelRead(wrapInboundOut(.oversized(Array(view.dropFirst().prefix(4096)))))
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A frame cut off by the peer closing is dropped: it was never complete, so never acknowledged.
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }
}

/// Closes a refused connection as it becomes active: before the channel's first read.
private final class CloseOnActive: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelActive(context: ChannelHandlerContext) { context.close(promise: nil) }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Closes a connection silent for the idle timeout.
private final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
