import Foundation
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
public import ServiceLifecycle
import TrustMeshAudit
import TrustMeshCrypto
public import TrustMeshModel
public import TrustMeshNodeCore
import TrustMeshStore

/// Where `node run --audit-syslog` sends the audit log: a syslog collector over TLS.
public struct AuditSyslogSettings: Sendable, Hashable {
    /// The collector's host name or IP address.
    public var host: String
    /// The collector's TCP port (6514 is syslog over TLS's registered port, RFC 5425 §4.1).
    public var port: Int
    /// PEM file of the certificate authorities the collector's certificate must chain to.
    public var caFile: String
    /// The most entries the forwarder may fall behind the log's head; older unsent entries are
    /// skipped, announced in one gap message, and stay in the log for `audit export`.
    public var backlog: Int
    /// How often the log is checked for new entries.
    public var pollInterval: Duration

    /// Settings from `HOST:PORT` (`[v6]:PORT` for an IPv6 address).
    /// - Parameters:
    ///   - address: The collector, `HOST:PORT`.
    ///   - caFile: PEM certificate authorities for the collector's certificate.
    ///   - backlog: The most entries the forwarder may fall behind (at least 1).
    ///   - pollInterval: How often the log is checked for new entries.
    /// - Throws: ``NodeError`` naming what is wrong with `address` or `backlog`.
    public init(
        address: String, caFile: String, backlog: Int = 100_000, pollInterval: Duration = .milliseconds(250)
    ) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw NodeError.configuration(
                path: "--audit-syslog",
                reason: "\"\(address)\" is not HOST:PORT with a port 1–65535, e.g. siem.trust.nhs.uk:6514")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else {
            throw NodeError.configuration(path: "--audit-syslog", reason: "\"\(address)\" names no host")
        }
        guard backlog >= 1 else {
            throw NodeError.configuration(path: "--audit-syslog-backlog", reason: "must be at least 1")
        }
        self.host = host
        self.port = port
        self.caFile = caFile
        self.backlog = backlog
        self.pollInterval = pollInterval
    }

    /// `HOST:PORT`, as given.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Forwards each new audit entry, as a DICOM PS3.15 A.5 audit message, to a syslog collector:
/// RFC 5424 messages, RFC 5425 octet-counting frames, over TLS with the collector's certificate
/// checked against a CA file.
///
/// The log is the spool. The forwarder remembers the last entry it handed to the collector
/// (`DIR/audit-syslog.json`: collector, sequence number and hash, replaced atomically after every
/// message), reads the entries after it, and sends them in order; while the collector is
/// unreachable they wait in the log, on disk, and go when it returns, also across a restart of the
/// node. A message counts as handed over when TLS has written it to the connection: RFC 5425 has
/// no acknowledgement, so a message written in the instant a collector dies can be lost by the
/// collector (each carries its entry's sequence number, `[meta sequenceId]`, so a gap shows).
///
/// Bounded: it never falls more than ``AuditSyslogSettings/backlog`` entries behind the head.
/// Beyond that the oldest unsent entries are skipped and one message (MSGID `TRUSTMESH-GAP`)
/// names them; they stay in the log, signed, for `trustmesh audit export`. A forwarder started
/// without a state file (or whose state names another log or collector) starts at entry 1, within
/// the same bound.
///
/// Each message: `<85>1 TIME HOST trustmesh ODS IHE+RFC-3881 [meta sequenceId="N"] BOM XML`:
/// facility 10 (security/authorisation), severity 5 (notice; 4, warning, for a failed or refused
/// event), the entry's time, the trust's ODS code as PROCID, IHE ATNA's MSGID, and the message
/// of ``DICOMAuditMessages``.
public struct AuditSyslogForwarder: Service {
    let node: LocalNode
    let settings: AuditSyslogSettings
    let logger: Logger

    /// A forwarder for the node's log.
    /// - Parameters:
    ///   - node: The node whose log is forwarded.
    ///   - settings: The collector and the bounds.
    ///   - logger: Where connection failures and gaps are reported.
    public init(node: LocalNode, settings: AuditSyslogSettings, logger: Logger) {
        self.node = node
        self.settings = settings
        self.logger = logger
    }

    /// The state file, in the node's data folder.
    var statePath: String { node.directory + "/audit-syslog.json" }

    /// What the forwarder remembers: the last entry handed to which collector.
    struct State: Codable, Equatable {
        var collector: String
        var sequence: UInt64
        var hash: String
    }

    public func run() async throws {
        let context: NIOSSLContext
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12  // RFC 5425 §4.2 (as updated by RFC 9662)
            tls.trustRoots = .file(settings.caFile)
            tls.certificateVerification = .fullVerification
            context = try NIOSSLContext(configuration: tls)
        } catch {
            logger.error(
                "audit syslog: cannot use the CA file", metadata: ["file": "\(settings.caFile)", "error": "\(error)"])
            throw error
        }
        // A failure (the catalogue, the state file) must not stop the node: log it and start again
        // from the state file a second later.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await forward(context: context)
                } catch is CancellationError {
                    return
                } catch {
                    logger.error(
                        "audit syslog: forwarding failed; starting again from the state file",
                        metadata: ["error": "\(error)"])
                    try await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Forwards entries until cancelled: reads what follows the last one handed over, connects
    /// when needed (retrying with a growing pause, at most 5 s), sends, remembers.
    func forward(context: NIOSSLContext) async throws {
        let recorder = AuditRecorder(trust: node.configuration.trust, name: node.configuration.name)
        var position = try start()
        var patients = AuditPatientIndex()
        try learn(&patients, through: position.sequence)
        var connection: Connection?
        var retry = Duration.milliseconds(200)
        defer { connection?.channel.close(promise: nil) }
        while !Task.isCancelled {
            var pending = try node.store.audit.after(sequence: position.sequence, limit: 256)
            if pending.isEmpty {
                try await Task.sleep(for: settings.pollInterval)
                continue
            }
            var gap: ClosedRange<UInt64>?
            if let head = try node.store.audit.head()?.sequence, head - position.sequence > UInt64(settings.backlog) {
                let resume = head - UInt64(settings.backlog)
                gap = (position.sequence + 1)...resume
                try learn(&patients, from: position.sequence, through: resume)
                pending = try node.store.audit.after(sequence: resume, limit: 256)
            }
            if connection?.channel.isActive != true {
                connection = nil
                do {
                    connection = try await Connection.open(settings: settings, context: context)
                    retry = .milliseconds(200)
                    logger.info("audit syslog: connected", metadata: ["collector": "\(settings.address)"])
                } catch {
                    logger.warning(
                        "audit syslog: collector unreachable; entries wait in the log",
                        metadata: [
                            "collector": "\(settings.address)", "error": "\(error)", "next": "\(position.sequence + 1)",
                        ])
                    try await Task.sleep(for: retry)
                    retry = min(retry * 2, .seconds(5))
                    continue
                }
            }
            guard let open = connection else { continue }
            if let gap {
                guard await open.send(Self.gapFrame(gap, recorder: recorder, backlog: settings.backlog)) else {
                    connection = nil
                    continue
                }
                logger.warning(
                    "audit syslog: more than the backlog behind; the oldest entries were not forwarded",
                    metadata: ["skipped": "#\(gap.lowerBound)–#\(gap.upperBound)", "backlog": "\(settings.backlog)"])
                position = State(collector: settings.address, sequence: gap.upperBound, hash: "")
                try save(position)
            }
            for entry in pending {
                patients.learn(entry)
                guard await open.send(Self.frame(entry, recorder: recorder, patients: patients)) else {
                    logger.warning(
                        "audit syslog: the connection failed; resending from the next entry",
                        metadata: ["collector": "\(settings.address)", "next": "\(entry.sequence)"])
                    connection = nil
                    break
                }
                position = State(collector: settings.address, sequence: entry.sequence, hash: entry.hash.hex)
                try save(position)
            }
        }
    }

    // MARK: State

    /// Where to resume: after the entry the state file names, if it is this log's entry and the
    /// same collector; else from the start.
    func start() throws -> State {
        let fresh = State(collector: settings.address, sequence: 0, hash: "")
        guard let data = FileManager.default.contents(atPath: statePath),
            let state = try? JSONDecoder().decode(State.self, from: data)
        else { return fresh }
        guard state.collector == settings.address else {
            logger.notice(
                "audit syslog: a new collector; forwarding the log from its start",
                metadata: ["previous": "\(state.collector)"])
            return fresh
        }
        if state.hash.isEmpty { return state }
        guard let entry = try node.store.audit.after(sequence: state.sequence - 1, limit: 1).first,
            entry.sequence == state.sequence, entry.hash.hex == state.hash
        else {
            logger.warning(
                "audit syslog: the state file names an entry this log does not hold; forwarding from the start",
                metadata: ["sequence": "\(state.sequence)"])
            return fresh
        }
        return state
    }

    /// Replaces the state file atomically (write a temporary file, rename).
    func save(_ state: State) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(state).write(to: URL(fileURLWithPath: statePath), options: [.atomic])
    }

    /// Learns the patients of studies from the entries after `from` up to `through`.
    func learn(_ patients: inout AuditPatientIndex, from: UInt64 = 0, through: UInt64) throws {
        var after = from
        while after < through {
            let page = try node.store.audit.after(sequence: after, limit: 4096)
            guard let last = page.last else { return }
            for entry in page where entry.sequence <= through { patients.learn(entry) }
            after = last.sequence
        }
    }

    // MARK: Frames

    /// The host name of this machine in the messages (RFC 5424 §6.2.4: printable US-ASCII, no
    /// space, at most 255 characters; `-` if unknown).
    static let hostName: String = {
        let name = ProcessInfo.processInfo.hostName.filter { $0.isASCII && $0 > " " && $0 <= "~" }
        return name.isEmpty ? "-" : String(name.prefix(255))
    }()

    /// An entry's RFC 5425 frame: `LENGTH SP` and its RFC 5424 message.
    /// - Parameters:
    ///   - entry: The entry.
    ///   - recorder: The trust whose node recorded it.
    ///   - patients: Patients of studies learnt from earlier entries.
    /// - Returns: The frame's bytes.
    static func frame(_ entry: AuditEntry, recorder: AuditRecorder, patients: AuditPatientIndex) -> [UInt8] {
        let xml = DICOMAuditMessages.message(entry, recorder: recorder, patients: patients)
        let failed = xml.contains("EventOutcomeIndicator=\"0\"") == false
        // PRI = facility 10 (security/authorization) × 8 + severity (5 notice, 4 warning).
        let priority = 10 * 8 + (failed ? 4 : 5)
        // sequenceId is 1…2147483647 (RFC 5424 §7.3.1), wrapping after the largest.
        let sequenceID = (entry.sequence - 1) % 2_147_483_647 + 1
        let header =
            "<\(priority)>1 \(entry.time) \(hostName) trustmesh \(recorder.trust.code) IHE+RFC-3881 "
            + "[meta sequenceId=\"\(sequenceID)\"] "
        return octetCounted(Array(header.utf8) + [0xEF, 0xBB, 0xBF] + Array(xml.utf8))
    }

    /// The notice sent when entries were skipped: MSGID `TRUSTMESH-GAP`, severity warning.
    static func gapFrame(_ gap: ClosedRange<UInt64>, recorder: AuditRecorder, backlog: Int) -> [UInt8] {
        let message =
            "<84>1 \(CareTime.format(Date())) \(hostName) trustmesh \(recorder.trust.code) TRUSTMESH-GAP - "
            + "\u{FEFF}audit entries #\(gap.lowerBound)-#\(gap.upperBound) of \(recorder.trust.code) were not "
            + "forwarded (more than \(backlog) behind); they are in the node's log: trustmesh audit export"
        return octetCounted(Array(message.utf8))
    }

    /// RFC 5425 §4.3 octet-counting framing: `MSG-LEN SP SYSLOG-MSG`.
    static func octetCounted(_ message: [UInt8]) -> [UInt8] { Array("\(message.count) ".utf8) + message }

    // MARK: Connection

    /// One TLS connection to the collector.
    struct Connection {
        let channel: any Channel

        /// Connects and completes the TLS handshake, the collector's certificate checked against
        /// the CA file and its name (or IP address) against `host`.
        static func open(settings: AuditSyslogSettings, context: NIOSSLContext) async throws -> Connection {
            // SNI carries names only; for an IP address NIOSSL checks the certificate's IP SANs.
            let isAddress = settings.host.allSatisfy { $0.isNumber || $0 == "." } || settings.host.contains(":")
            let serverName = isAddress ? nil : settings.host
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let handshake = loop.makePromise(of: Void.self)
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: loop)
                    .connectTimeout(.seconds(5))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: context, serverHostname: serverName))
                            try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: handshake))
                        }
                    }
                    .connect(host: settings.host, port: settings.port).get()
            } catch {
                handshake.fail(error)
                throw error
            }
            do {
                try await handshake.futureResult.get()
            } catch {
                try? await channel.close()
                throw error
            }
            return Connection(channel: channel)
        }

        /// Writes one frame; `false` (and the connection closed) if it could not be written.
        func send(_ frame: [UInt8]) async -> Bool {
            guard channel.isActive else { return false }
            do {
                try await channel.writeAndFlush(channel.allocator.buffer(bytes: frame)).get()
                return true
            } catch {
                try? await channel.close()
                return false
            }
        }
    }

    /// Completes a promise when the TLS handshake succeeds, fails it when the connection fails
    /// first, and discards anything the collector sends (RFC 5425 collectors send nothing).
    final class HandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        private let promise: EventLoopPromise<Void>
        /// Whether the promise is completed (a promise completes once); only touched on the
        /// channel's event loop.
        private var completed = false

        init(promise: EventLoopPromise<Void>) { self.promise = promise }

        private func complete(_ result: Result<Void, any Error>) {
            guard !completed else { return }
            completed = true
            promise.completeWith(result)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted = event { complete(.success(())) }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            complete(.failure(error))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            complete(.failure(ChannelError.ioOnClosedChannel))
            context.fireChannelInactive()
        }
    }
}
