import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The limits both HTTP listeners hold before any credential is shown (`node run --header-timeout`,
/// `--idle-timeout`, `--max-connections-per-address`). docs/ARCHITECTURE.md, "Limits", lists
/// every limit and where it is enforced.
public struct HTTPLimits: Sendable, Hashable {
    /// Time a new connection has to deliver its first request's complete head; then it is closed.
    public var headerTimeout: Duration
    /// Time a connection may go without a request part arriving (a body that stops, a kept-alive
    /// connection with no next request); then it is closed. Hummingbird's idle timeout.
    public var idleTimeout: Duration
    /// Connections one client address may hold open on one listener; more are closed on accept.
    public var connectionsPerAddress: Int

    public init(
        headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60), connectionsPerAddress: Int = 64
    ) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.connectionsPerAddress = connectionsPerAddress
    }
}

/// Open connections per client address on one listener.
final class AddressCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Counts a connection from `address`; false (and nothing counted) when it already holds `limit`.
    func admit(_ address: String) -> Bool {
        counts.withLock { counts in
            let held = counts[address, default: 0]
            guard held < limit else { return false }
            counts[address] = held + 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { counts in
            let held = counts[address, default: 0] - 1
            counts[address] = held > 0 ? held : nil
        }
    }
}

/// One connection's limits on an HTTP listener, in its pipeline after HTTP decoding:
/// - the per-address cap: a connection over it is closed as soon as it is active;
/// - the header timeout: the first request's head must be whole within ``HTTPLimits/headerTimeout``
///   of the connection opening (a head arrives as one part, so a head sent byte by byte is not
///   "activity"); later requests fall under Hummingbird's idle timeout, which a partial head does
///   not reset either;
/// - a request answered before its body was read (a refusal) closes the connection once the answer
///   is flushed, so the rest of the body is never read, unless it announced at most 64 KiB
///   (``drainableBody``): closing under a client still sending can cost it the answer, and so
///   small a body is cheaper to read and discard.
final class ConnectionLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counter: AddressCounter
    private let headerTimeout: TimeAmount
    private let logger: Logger
    private var started = false
    /// The address counted for this connection (nil: not counted).
    private var counted: String?
    private var headerTimer: Scheduled<Void>?
    /// A request's head has arrived and its end has not.
    private var readingBody = false
    /// The request being read announced a body small enough to read and discard after an early
    /// answer (closing under a client still sending makes some clients lose the answer itself).
    private var smallBody = false

    /// Bodies up to this size are read to their end after an early answer; larger or chunked
    /// ones are not: the connection is closed.
    static let drainableBody = 64 << 10

    init(counter: AddressCounter, headerTimeout: Duration, logger: Logger) {
        self.counter = counter
        let (seconds, attoseconds) = headerTimeout.components
        self.headerTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        let address = context.channel.remoteAddress?.ipAddress ?? "?"
        guard counter.admit(address) else {
            logger.notice(
                "connection refused: too many from one address",
                metadata: ["address": "\(address)", "limit": "\(counter.limit)"])
            context.close(promise: nil)
            return
        }
        counted = address
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let timeout = headerTimeout
        let logger = logger
        headerTimer = context.eventLoop.scheduleTask(in: timeout) {
            logger.notice(
                "connection closed: no complete request head in time",
                metadata: ["address": "\(address)", "timeout": "\(timeout)"])
            bound.value.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            headerTimer?.cancel()
            headerTimer = nil
            readingBody = true
            let length = head.headerFields[.contentLength].flatMap { Int($0) }
            smallBody = head.headerFields[.transferEncoding] == nil && (length ?? 0) <= Self.drainableBody
        case .body:
            break
        case .end:
            readingBody = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), readingBody, !smallBody {
            // Answered before a large body was read (a refusal, a body over its limit): reading
            // the rest only to discard it would let the sender keep the connection busy.
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
            return
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    private func stop() {
        headerTimer?.cancel()
        headerTimer = nil
        if let address = counted {
            counter.release(address)
            counted = nil
        }
    }
}

@available(*, unavailable)
extension ConnectionLimitHandler: Sendable {}
