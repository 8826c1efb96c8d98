package import NIOCore

/// What reaches an association's driver: a PDU, bytes that are not one, or a timer.
package enum AssociationEvent: Sendable {
    case pdu(PDU)
    case malformed(DIMSEError)
    case timerExpired(id: UInt64)
}

/// What an association's driver asks of its channel.
package enum AssociationOutput: Sendable {
    case pdu(PDU)
    case armTimer(id: UInt64, Duration)
    case disarmTimer
}

/// Cuts the TCP stream into PDUs (PS3.8 §9.3.1): 6-byte header, then the body its length gives.
///
/// The length is checked against the limit for the PDU's type before any of the body is buffered,
/// so memory per association stays bounded whatever a peer claims: P-DATA-TF up to the maximum
/// length the node advertised, A-ASSOCIATE-RQ/AC up to 64 KiB, the others exactly 4 bytes. After
/// the first malformed PDU nothing more is decoded: the state machine aborts the association.
package struct PDUDecoder: ByteToMessageDecoder {
    package typealias InboundOut = AssociationEvent

    /// The largest A-ASSOCIATE-RQ accepted: 128 contexts × several transfer syntaxes fit easily.
    package static let maximumAssociateLength = 64 << 10

    let maximumDataLength: Int
    private var failed = false

    package init(maximumDataLength: Int) { self.maximumDataLength = maximumDataLength }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if failed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        guard buffer.readableBytes >= 6,
            let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self)
        else { return .needMoreData }
        guard let kind = PDU.Kind(rawValue: type) else {
            return fail(
                context, &buffer, .malformedPDU("unknown PDU type 0x\(String(type, radix: 16))", unrecognised: true))
        }
        let limit =
            switch kind {
            case .data: maximumDataLength
            case .associateRequest, .associateAccept: Self.maximumAssociateLength
            default: 4
            }
        guard Int(length) <= limit else {
            return fail(context, &buffer, .malformedPDU("a \(kind) PDU of \(length) bytes; the limit is \(limit)"))
        }
        guard buffer.readableBytes >= 6 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 6)
        let body = buffer.readSlice(length: Int(length))!
        do {
            context.fireChannelRead(wrapInboundOut(.pdu(try PDU.decode(type: type, body: body))))
        } catch {
            return fail(context, &buffer, error)
        }
        return .continue
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    private mutating func fail(_ context: ChannelHandlerContext, _ buffer: inout ByteBuffer, _ error: DIMSEError)
        -> DecodingState
    {
        failed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(wrapInboundOut(.malformed(error)))
        return .needMoreData
    }
}

/// Encodes outgoing PDUs and runs the association's one timer, reporting its expiry as an inbound
/// event so the state machine sees PDUs and timers in one ordered stream.
package final class AssociationIOHandler: ChannelDuplexHandler {
    package typealias InboundIn = AssociationEvent
    package typealias InboundOut = AssociationEvent
    package typealias OutboundIn = AssociationOutput
    package typealias OutboundOut = ByteBuffer

    private var timer: Scheduled<Void>?

    package init() {}

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .pdu(let pdu):
            var buffer = context.channel.allocator.buffer(capacity: 256)
            pdu.encode(into: &buffer)
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .armTimer(let id, let duration):
            timer?.cancel()
            let (seconds, attoseconds) = duration.components
            let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
                // NIOAsyncChannel hands reads to its consumer on read-complete, so a timer event needs one too.
                bound.value.fireChannelRead(NIOAny(AssociationEvent.timerExpired(id: id)))
                bound.value.fireChannelReadComplete()
            }
            promise?.succeed()
        case .disarmTimer:
            timer?.cancel()
            timer = nil
            promise?.succeed()
        }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}

@available(*, unavailable)
extension AssociationIOHandler: Sendable {}

extension NIOAsyncChannel where Inbound == AssociationEvent, Outbound == AssociationOutput {
    /// The pipeline of every association, accepted or opened: PDUs decoded (data at most
    /// `maximumPDU` bytes), timers and writes carried out, wrapped for the association's task.
    static func association(_ channel: any Channel, maximumPDU: Int) throws -> Self {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PDUDecoder(maximumDataLength: maximumPDU)))
        try channel.pipeline.syncOperations.addHandler(AssociationIOHandler())
        return try Self(wrappingChannelSynchronously: channel)
    }
}
