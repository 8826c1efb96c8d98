public import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The node's DICOM listener (PS3.7/PS3.8): accepts associations, answers C-ECHO, C-STORE, C-FIND
/// and C-MOVE through a ``DIMSEServiceProvider``, until its task is cancelled.
///
/// ```swift
/// let server = DIMSEServer(configuration: .init(host: "127.0.0.1", port: 11112, aeTitle: "TM_RRK"),
///                          provider: provider, logger: logger)
/// try await server.run { port in print("DICOM on \(port)") }
/// ```
public final class DIMSEServer: Sendable {
    /// How the listener is set up.
    public struct Configuration: Sendable {
        public var host: String
        /// 0 lets the system choose (reported to `onListening`).
        public var port: Int
        public var aeTitle: String
        /// Refuse associations whose called AE title is not ``aeTitle``.
        public var checkCalledAETitle: Bool
        /// Calling AE titles allowed to associate; nil allows any.
        public var allowedCallingAETitles: Set<String>?
        /// ARTIM: time allowed to complete an A-ASSOCIATE-RQ, and to stay idle once associated.
        public var timeout: Duration
        /// Largest P-DATA-TF PDU accepted (the maximum length advertised in A-ASSOCIATE-AC).
        public var maximumPDULength: Int
        /// Associations served at once; more are rejected as transient (local limit exceeded). A
        /// connection counts only once its A-ASSOCIATE-RQ has arrived: until then ARTIM
        /// (``timeout``) is all it may hold.
        public var maximumAssociations: Int
        /// Connections one address may hold open at once (associated or not); more are closed on
        /// accept, so one address cannot hold the listener's sockets.
        public var maximumConnectionsPerAddress: Int
        /// Largest C-FIND or C-MOVE identifier accepted, in bytes.
        public var maximumIdentifierLength: Int
        /// C-MOVE destinations by AE title; a C-MOVE to any other is refused (0xA801).
        public var moveDestinations: [String: DIMSEMoveDestination]

        public init(
            host: String, port: Int, aeTitle: String, checkCalledAETitle: Bool = false,
            allowedCallingAETitles: Set<String>? = nil, timeout: Duration = .seconds(30),
            maximumPDULength: Int = 256 << 10, maximumAssociations: Int = 32, maximumIdentifierLength: Int = 1 << 20,
            moveDestinations: [DIMSEMoveDestination] = [], maximumConnectionsPerAddress: Int = 16
        ) {
            self.host = host
            self.port = port
            self.aeTitle = aeTitle
            self.checkCalledAETitle = checkCalledAETitle
            self.allowedCallingAETitles = allowedCallingAETitles
            self.timeout = timeout
            self.maximumPDULength = maximumPDULength
            self.maximumAssociations = maximumAssociations
            self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
            self.maximumIdentifierLength = maximumIdentifierLength
            self.moveDestinations = Dictionary(moveDestinations.map { ($0.aeTitle, $0) }) { _, last in last }
        }
    }

    /// Counters for the operator's status page.
    public struct Statistics: Sendable, Codable, Equatable {
        public var port: Int = 0
        public var aeTitle: String = ""
        public var associationsAccepted = 0
        public var associationsRejected = 0
        public var associationsAborted = 0
        public var active = 0
        public var echoes = 0
        public var instancesStored = 0
        public var storesFailed = 0
        public var finds = 0
        public var bytesReceived = 0
        public var moves = 0
        public var instancesSent = 0
        public var bytesSent = 0
    }

    public let configuration: Configuration
    /// The node behind the listener (its composition root runs the provider's own background work
    /// beside ``run(onListening:)``).
    public let provider: any DIMSEServiceProvider
    let logger: Logger
    let counters = Mutex(Statistics())
    private let nextID = Atomic<Int>(0)
    /// Open connections per peer address.
    private let connections = Mutex<[String: Int]>([:])

    public init(configuration: Configuration, provider: some DIMSEServiceProvider, logger: Logger) {
        self.configuration = configuration
        self.provider = provider
        self.logger = logger
        counters.withLock { $0.aeTitle = configuration.aeTitle }
    }

    /// Counts a connection from `address`; false when the address already holds its limit.
    private func admitConnection(from address: String) -> Bool {
        connections.withLock { open in
            let held = open[address, default: 0]
            guard held < configuration.maximumConnectionsPerAddress else { return false }
            open[address] = held + 1
            return true
        }
    }

    private func releaseConnection(from address: String) {
        connections.withLock { open in
            let held = open[address, default: 0] - 1
            open[address] = held > 0 ? held : nil
        }
    }

    /// Counts an association once its A-ASSOCIATE-RQ has arrived; false (nothing counted) when the
    /// node already serves ``Configuration/maximumAssociations``.
    func admitAssociation() -> Bool {
        counters.withLock { counters in
            guard counters.active < configuration.maximumAssociations else { return false }
            counters.active += 1
            return true
        }
    }

    func releaseAssociation() { counters.withLock { $0.active -= 1 } }

    /// The counters now.
    public var statistics: Statistics { counters.withLock { $0 } }

    /// Listens until the task is cancelled; associations in progress are closed then.
    /// - Parameter onListening: called with the bound port.
    /// - Throws: if the address cannot be bound.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let settings = AssociationStateMachine.Settings(
            aeTitle: configuration.aeTitle, checkCalledAETitle: configuration.checkCalledAETitle,
            allowedCallingAETitles: configuration.allowedCallingAETitles,
            maximumPDULength: UInt32(configuration.maximumPDULength), timeout: configuration.timeout)
        let maximumPDU = configuration.maximumPDULength
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            // DIMSE is request/response with small PDUs: without TCP_NODELAY each response can wait
            // ~40 ms for a delayed ACK (the Nagle stall BASELINES.md measures for Orthanc). A TCP-level
            // option: `.socketOption(.tcp_nodelay)` would set SO_DEBUG (SOL_SOCKET, 1), which an
            // unprivileged node may not set: its first association then stopped the node.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AssociationEvent, AssociationOutput>.association(
                        channel, maximumPDU: maximumPDU)
                }
            }
        let port = server.channel.localAddress?.port ?? configuration.port
        counters.withLock { $0.port = port }
        logger.info(
            "DICOM listener up",
            metadata: ["port": "\(port)", "aeTitle": "\(configuration.aeTitle)", "host": "\(configuration.host)"])
        onListening(port)
        let channel = server.channel
        do {
            try await serve(server, settings: settings, channel: channel)
        } catch {
            // Cancellation is how the listener is told to stop: not a failure of the node.
            if !Task.isCancelled { throw error }
        }
        logger.info("DICOM listener stopped", metadata: ["port": "\(port)"])
    }

    private func serve(
        _ server: NIOAsyncChannel<NIOAsyncChannel<AssociationEvent, AssociationOutput>, Never>,
        settings: AssociationStateMachine.Settings, channel: any Channel
    ) async throws {
        try await withTaskCancellationHandler {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
                        let remote = connection.channel.remoteAddress
                        let address = remote?.ipAddress ?? "?"
                        guard admitConnection(from: address) else {
                            let limit = configuration.maximumConnectionsPerAddress
                            counters.withLock { $0.associationsRejected += 1 }
                            logger.warning(
                                "DICOM connection closed: too many from one address",
                                metadata: ["peer": "\(address)", "limit": "\(limit)"])
                            group.addTask {
                                // Closed through the async channel: its writer must be finished.
                                try? await connection.executeThenClose { _, _ in }
                                await self.provider.refused(
                                    DIMSERefusal(
                                        association: nil, peer: "\(address):\(remote?.port ?? 0)",
                                        operation: "association", status: nil,
                                        reason: "closed on accept: \(address) already holds \(limit) connections"))
                            }
                            continue
                        }
                        let driver = AssociationDriver(id: id, server: self, settings: settings)
                        group.addTask {
                            await driver.run(connection)
                            self.releaseConnection(from: address)
                        }
                    }
                }
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
