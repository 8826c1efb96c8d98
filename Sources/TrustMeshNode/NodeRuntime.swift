import AsyncHTTPClient
internal import CLinux
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TrustMeshCrypto
public import TrustMeshDIMSE
public import TrustMeshGossip
public import TrustMeshModel
import TrustMeshStore

/// A node at work: the HTTP listener (peer protocol and local API) and the gossip loop, in one
/// service group that stops cleanly on SIGINT or SIGTERM. A restart resumes from the database.
///
/// Routes:
/// - `POST /peer/v1/gossip`: a sealed, signed ``GossipRequest`` from a pinned peer.
/// - `GET /api/v1/status`: ``NodeStatus``.
/// - `GET /api/v1/query?nhs=NUMBER`: ``FederatedQueryResult``.
/// - `GET /api/v1/priors`, `GET /fhir/ImagingStudy`, `GET /metrics` and the page (``WebUI``): see
///   `PriorImaging.swift`, `FHIRImagingStudy.swift`, `NodeMetrics.swift` and `Web/`.
/// - `/dicom-web/...`: QIDO-RS, WADO-RS and STOW-RS (``DICOMwebRoutes``).
public final class NodeRuntime: Sendable {
    public let node: LocalNode
    public let topology: Topology
    public let settings: GossipSettings
    let gossip: GossipNode
    private let http: HTTPClient
    let fetchServer: FetchServer
    let fetches: FetchEngine
    let checkpoints: CheckpointPublisher
    let logger: Logger
    private let me: Topology.Trust
    private let agreement: AgreementKey
    private let signing: SigningKey
    private let nonces = NonceCache()
    /// Held while the runtime exists: one node per data folder.
    private let lock: DataFolderLock
    /// Requests signed before this moment are refused: the nonce cache starts empty.
    private let startedAt = Date()
    private let counters = Mutex(Counters())
    /// Prometheus metrics, served at `/metrics`.
    let metrics = NodeMetrics()
    /// When each peer was last heard from, for the operator's view.
    let contacts = PeerContacts()
    /// The DICOM listener (C-ECHO, C-STORE, C-FIND), when configured.
    let dicom: DIMSEServer?

    struct Counters {
        var rounds = 0
        var refusals: [String: Int] = [:]
    }

    /// Prepares a node to run: its keys must match the topology's entry for its trust.
    /// - Throws: if the trust is not in the topology, the topology lacks keys, or the keys differ.
    /// - Parameter fetchBatchBytes: compressed bytes asked for per chunk batch when fetching.
    /// - Parameter dicom: the DICOM listener's settings (nil: no listener); its host is the node's.
    public init(
        node: LocalNode, topology: Topology, settings: GossipSettings = GossipSettings(),
        fetchBatchBytes: Int = 8 << 20, checkpointInterval: Duration = .seconds(30),
        dicom: DIMSEServer.Configuration? = nil
    ) throws {
        try topology.validate(requireKeys: true)
        let trust = node.configuration.trust
        guard let me = topology.trust(trust) else {
            throw ModelError.topology("\(trust) is not in this topology")
        }
        guard me.signingKey == node.configuration.signingPublicKey,
            me.agreementKey == node.configuration.agreementPublicKey
        else {
            throw ModelError.topology("the keys listed for \(trust) are not this node's keys")
        }
        lock = try DataFolderLock(directory: node.directory)
        self.node = node
        self.topology = topology
        self.settings = settings
        self.me = me
        self.signing = try node.signingKey()
        self.agreement = try node.agreementKey()
        var logger = Logger(label: "trustmesh.\(trust.code)")
        logger.logLevel = .info
        self.logger = logger
        // A peer that is down must fail fast: without this, a request waits out its whole deadline
        // while the pool retries the connection, and one dead peer stalls gossip rounds and fetches.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(3), read: .seconds(60))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let client = PeerClient(
            me: trust, signing: signing, agreement: agreement, topology: topology, http: http)
        var keys: [TrustID: VerifyingKey] = [:]
        for entry in topology.trusts { keys[entry.ods] = entry.signingKey }
        fetchServer = FetchServer(node: node, logger: logger)
        checkpoints = CheckpointPublisher(
            node: node, topology: topology, client: client, interval: checkpointInterval, logger: logger)
        var fetchSettings = FetchEngine.Settings()
        fetchSettings.batchBytes = max(1, fetchBatchBytes)
        fetches = FetchEngine(
            node: node, client: client, topology: topology, settings: fetchSettings, logger: logger, metrics: metrics)
        gossip = GossipNode(
            id: trust, peers: topology.trusts.map(\.ods), keys: keys,
            log: SQLiteIndexLog(table: node.store.index, node: node),
            transport: ContactRecordingTransport(base: HTTPGossipTransport(client: client), contacts: contacts),
            settings: settings)
        self.dicom = dicom.map { configuration in
            var configuration = configuration
            if configuration.host.isEmpty { configuration.host = (try? me.hostAndPort().host) ?? "127.0.0.1" }
            return DIMSEServer(
                configuration: configuration,
                provider: NodeDICOMService(
                    node: node, topology: topology, aeTitle: configuration.aeTitle, logger: logger), logger: logger)
        }
    }

    /// The AE title a trust's node answers to by default: `TM_` and its ODS code, e.g. `TM_RRK`.
    public static func defaultAETitle(for trust: TrustID) -> String { NodeDICOMService.defaultAETitle(trust) }

    /// Serves until SIGINT or SIGTERM.
    /// - Parameter onListening: called with the bound port once the listener is up.
    /// - Parameter onDICOMListening: called with the DICOM listener's bound port once it is up.
    public func run(
        onListening: @escaping @Sendable (Int) -> Void = { _ in },
        onDICOMListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        // Batch buffers are reused from the heap, not faulted in afresh (A/B: ~3% off a fetch).
        trustmesh_keep_freed_memory()
        // The HTTP client must be shut down on every way out, or its deinit stops the process.
        do {
            try await serve(onListening: onListening, onDICOMListening: onDICOMListening)
        } catch {
            try? await http.shutdown()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                var addresses = "\(me.address) (\(me.ods)'s address in the topology)"
                if let dicom { addresses += " or the DICOM port \(dicom.configuration.port)" }
                throw NodeError.addressInUse(addresses)
            }
            throw error
        }
        try await http.shutdown()
    }

    private func serve(
        onListening: @escaping @Sendable (Int) -> Void, onDICOMListening: @escaping @Sendable (Int) -> Void
    ) async throws {
        let (host, port) = try me.hostAndPort()
        var app = Application(
            router: router(),
            server: .http1(configuration: .init(additionalChannelHandlers: [ExpectContinueHandler()])),
            configuration: .init(address: .hostname(host, port: port), serverName: "trustmesh"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        app.addServices(GossipLoop(runtime: self), checkpoints)
        if let dicom { app.addServices(DICOMListenerService(server: dicom, onListening: onDICOMListening)) }
        logger.info("node starting", metadata: ["trust": "\(me.ods)", "address": "\(me.address)"])
        try node.audit(.nodeStarted, actor: "node")
        defer {
            try? node.audit(.nodeStopped, actor: "node")
            logger.info("node stopped", metadata: ["trust": "\(me.ods)"])
        }
        try await app.runService()
    }

    /// One gossip round now (the loop calls this every interval).
    func gossipRound() async {
        await gossip.runRound()
        counters.withLock { $0.rounds += 1 }
        metrics.gossipRound()
    }

    // MARK: Routes

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.post("/peer/v1/gossip") { request, _ -> Response in
            await self.peerRequest(request, path: "/peer/v1/gossip") { from, payload in
                let gossipRequest = try JSONDecoder().decode(GossipRequest.self, from: Data(payload))
                guard gossipRequest.from == from.ods else {
                    throw PeerRefusal(.badEnvelope, "the gossip request names another sender")
                }
                return .sealed(try JSONEncoder().encode(try await self.gossip.handle(gossipRequest)))
            }
        }
        router.post(RouterPath(CheckpointPublisher.path)) { request, _ -> Response in
            await self.peerRequest(request, path: CheckpointPublisher.path) { from, payload in
                .sealed(try CheckpointPublisher.receive(payload, from: from, node: self.node, logger: self.logger))
            }
        }
        router.post(RouterPath(FetchRoutes.manifest)) { request, _ -> Response in
            await self.peerRequest(request, path: FetchRoutes.manifest) { from, payload in
                .sealed(try self.fetchServer.manifest(from: from, payload: payload))
            }
        }
        router.post(RouterPath(FetchRoutes.chunks)) { request, _ -> Response in
            await self.peerRequest(request, path: FetchRoutes.chunks) { from, payload in
                .stream(try self.fetchServer.chunks(from: from, payload: payload))
            }
        }
        router.get("/api/v1/status") { _, _ -> Response in
            do { return Self.json(200, try await self.status()) } catch { return self.internalError(error) }
        }
        router.get("/api/v1/query") { request, _ -> Response in
            guard let text = request.uri.queryParameters["nhs"] else {
                return Self.json(400, ["error": "give the patient's NHS number as ?nhs=NUMBER"])
            }
            let nhs: NHSNumber
            do { nhs = try NHSNumber(String(text)) } catch {
                return Self.json(400, ["error": "nhs: \(error)"])
            }
            do {
                let asker = request.uri.queryParameters["clinician"].map(String.init) ?? "local API user"
                let result = try self.node.query(nhs: nhs, topology: self.topology, asker: asker)
                self.logger.info("query", metadata: ["nhs": "\(nhs)", "studies": "\(result.studies.count)"])
                return Self.json(200, result)
            } catch { return self.internalError(error) }
        }
        router.post("/api/v1/care") { request, context -> Response in
            struct Body: Decodable {
                var nhs: String
                var clinician: String
                var kind: String
                var expires: String?
            }
            do {
                let body = try await request.decode(as: Body.self, context: context)
                let care = try self.node.addCare(
                    nhs: body.nhs, clinician: body.clinician, kind: body.kind, expires: body.expires)
                self.logger.info(
                    "care relationship added", metadata: ["kind": "\(care.kind.rawValue)", "nhs": "\(care.nhsNumber)"])
                return Self.json(200, care)
            } catch let error as CareInputError {
                return Self.json(400, ["error": error.description])
            } catch {
                return Self.json(400, ["error": "\(error)"])
            }
        }
        router.get("/api/v1/care") { _, _ -> Response in
            do { return Self.json(200, try self.node.store.care.all()) } catch { return self.internalError(error) }
        }
        router.post("/api/v1/fetch") { request, context -> Response in
            struct Body: Decodable {
                var study: String
                var from: String?
                var clinician: String?
            }
            do {
                let body = try await request.decode(as: Body.self, context: context)
                let holder = try body.from.map { try TrustID($0) }
                return Self.json(
                    200, try self.fetches.start(studyUID: body.study, from: holder, clinician: body.clinician))
            } catch let error as FetchError {
                return Self.json(409, ["error": error.description, "rule": error.rule ?? ""])
            } catch {
                return Self.json(400, ["error": "\(error)"])
            }
        }
        router.get("/api/v1/fetch") { _, _ -> Response in Self.json(200, self.fetches.all()) }
        DICOMwebRoutes(node: node, topology: topology, logger: logger).register(on: router)
        router.get("/api/v1/fetch/:id") { _, context -> Response in
            guard let id = context.parameters.get("id"), let progress = self.fetches.progress(id) else {
                return Self.json(404, ["error": "no such fetch"])
            }
            return Self.json(200, progress)
        }
        addPriorRoutes(to: router)
        addFHIRRoutes(to: router)
        addMetricsRoutes(to: router)
        addWebRoutes(to: router)
        return router
    }

    /// Opens a peer request, runs `handle` on its payload, and seals the answer to the peer. Every
    /// refusal is logged and counted; nothing a refused request carries is used.
    private func peerRequest(
        _ request: Request, path: String, handle: (Topology.Trust, [UInt8]) async throws -> PeerAnswer
    ) async -> Response {
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        do {
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: 32 << 20)
            } catch {
                throw PeerRefusal(.tooLarge, "request bodies are limited to 32 MiB")
            }
            let opened = try PeerEnvelope.open(
                .init(method: "POST", path: path, headers: headers, body: Array(buffer: body)), as: me.ods,
                key: agreement, topology: topology, nonces: nonces, notBefore: startedAt)
            contacts.record(opened.from.ods)
            switch try await handle(opened.from, opened.payload) {
            case .sealed(let answer):
                let sealed = opened.from.agreementKey!.seal(Array(answer))
                return signed(status: 200, body: sealed, to: opened.from.ods, nonce: opened.nonce)
            case .stream(let batch):
                let logger = logger
                let body = ResponseBody(contentLength: batch.length) { writer in
                    do {
                        try await batch.write { try await writer.write($0) }
                        try await writer.finish(nil)
                    } catch {
                        logger.warning("chunk batch stopped", metadata: ["error": "\(error)"])
                        throw error
                    }
                }
                var response = Response(status: .ok, body: body)
                response.headers[.contentType] = "application/octet-stream"
                return response
            }
        } catch let refusal as PeerRefusal {
            counters.withLock { $0.refusals[refusal.code.rawValue, default: 0] += 1 }
            metrics.peerRefusal(refusal.code.rawValue)
            let peer = String(headers[PeerEnvelope.fromHeader.lowercased()]?.prefix(8) ?? "?")
            if refusal.code != .notShared {  // policy refusals are audited as fetchRefused
                try? node.audit(.peerRefused, actor: peer, subject: [.peer: peer, .rule: refusal.code.rawValue])
            }
            logger.warning(
                "refused peer request",
                metadata: [
                    "path": "\(path)", "from": "\(headers[PeerEnvelope.fromHeader.lowercased()]?.prefix(8) ?? "?")",
                    "code": "\(refusal.code.rawValue)", "reason": "\(refusal.message)",
                ])
            let body = (try? JSONEncoder().encode(refusal)).map(Array.init) ?? []
            var response = Response(
                status: .init(code: refusal.status),
                body: .init(byteBuffer: ByteBuffer(bytes: body)))
            response.headers[.contentType] = "application/json"
            return response
        } catch {
            counters.withLock { $0.refusals[PeerRefusal.Code.badEnvelope.rawValue, default: 0] += 1 }
            metrics.peerRefusal(PeerRefusal.Code.badEnvelope.rawValue)
            logger.warning("bad peer request", metadata: ["path": "\(path)", "error": "\(error)"])
            let refusal = PeerRefusal(.badEnvelope, "the payload could not be read")
            return Response(
                status: .badRequest,
                body: .init(byteBuffer: ByteBuffer(bytes: (try? JSONEncoder().encode(refusal)).map(Array.init) ?? [])))
        }
    }

    private func signed(status: Int, body: [UInt8], to peer: TrustID, nonce: String) -> Response {
        let signature = signing.sign(
            PeerEnvelope.responseSigningBytes(status: status, from: me.ods, to: peer, requestNonce: nonce, body: body))
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[HTTPField.Name(PeerEnvelope.signatureHeader)!] = signature.base64
        response.headers[.contentType] = "application/octet-stream"
        return response
    }

    func internalError(_ error: any Error) -> Response {
        logger.error("local API failed", metadata: ["error": "\(error)"])
        return Self.json(500, ["error": "the node could not answer; see its log"])
    }

    static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data()
        var response = Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(bytes: data)))
        response.headers[.contentType] = "application/json"
        return response
    }

    /// The operator's view of the node.
    public func status() async throws -> NodeStatus {
        let counts = try node.store.index.countsByOrigin()
        let stats = try node.store.statistics()
        let counters = counters.withLock { $0 }
        return NodeStatus(
            trust: me.ods.code, name: me.name, address: me.address,
            peers: topology.trusts.filter { $0.ods != me.ods }.map {
                .init(ods: $0.ods.code, name: $0.name, address: $0.address, records: counts[$0.ods] ?? 0)
            },
            ownRecords: counts[me.ods] ?? 0, studies: stats.studies, instances: stats.instances,
            storedBytes: stats.storedBytes, gossipRounds: counters.rounds,
            failedExchanges: await gossip.failedExchanges, acceptedRecords: await gossip.acceptedRecords,
            rejectedRecords: await gossip.rejectedRecords, refusals: counters.refusals,
            dicom: dicom.map { NodeStatus.DICOMListener($0.statistics) })
    }
}

/// What a peer endpoint answers: a payload to seal and sign, or bytes that carry their own
/// authentication (chunk frames).
enum PeerAnswer {
    /// Sealed to the peer and signed by this node.
    case sealed(Data)
    /// Chunk frames, which carry their own authentication, streamed.
    case stream(FetchServer.ChunkBatch)
}

/// Runs a gossip round every interval until the service group shuts down.
struct GossipLoop: Service {
    let runtime: NodeRuntime

    func run() async throws {
        let interval = runtime.settings.roundInterval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await runtime.gossipRound()
                try await Task.sleep(for: interval)
            }
        }
    }
}

/// An exclusive `flock` on the data folder's `node.lock` while a node runs there, so a second
/// `node run` on the same folder stops at once with the first one's process id. (CLI commands
/// that take `--data` do not take it: they are meant to work beside a running node.) The kernel
/// drops the lock when the process ends, however it ends.
final class DataFolderLock: Sendable {
    private let fd: Int32

    init(directory: String) throws {
        let path = directory + "/node.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NodeError.io(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let pid = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw NodeError.alreadyRunning(directory: directory, pid: pid.isEmpty ? "unknown" : pid)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}
