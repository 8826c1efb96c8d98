import Foundation
import Glibc
package import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
public import TrustMeshAccess
import TrustMeshCrypto
import TrustMeshDICOMweb
public import TrustMeshDIMSE
import TrustMeshFetch
public import TrustMeshGossip
public import TrustMeshHL7
public import TrustMeshModel
public import TrustMeshNodeCore
import TrustMeshPeer
public import TrustMeshPolicy
public import TrustMeshPrefetch
import TrustMeshStore
import TrustMeshWeb

/// A node at work, and the composition root: it builds the doors, the services (gossip loop,
/// checkpoint publisher, the DICOM listener with its node adapter) and runs them in one service
/// group that stops cleanly on SIGINT or SIGTERM. A restart resumes from the database.
///
/// Two listeners: the **peer listener**, at the trust's topology address (which every other trust
/// must reach), serves only the peer protocol (`/peer/v1/…`); the **local listener**
/// (``LocalListener``, by default on loopback) serves the trust's own people and systems: the page,
/// the JSON API, DICOMweb, FHIR and metrics. Each answers 404 for the other's routes, so the trust
/// can put its people's doors behind its own network controls without a path-filtering proxy.
/// Each door is a route collection of its own target, with its own middleware and its one mapping
/// from errors to answers; this type only wires them.
public final class NodeRuntime: Sendable {
    public let node: LocalNode
    public let topology: Topology
    public let settings: GossipSettings
    let gossip: GossipNode
    private let client: PeerClient
    let fetchServer: FetchServer
    let fetches: FetchEngine
    /// Emergency pushes: this node's clinicians' pushes out, and the pushes it accepts.
    let pushes: EmergencyPush
    let treeHeads: TreeHeadGossip
    /// Membership, certificates and revocations by gossip; nil for a network without them (a
    /// topology file with pinned keys only).
    let networkGossip: NetworkGossip?
    /// The members and their keys over time: the network directory, or the topology's pinned keys.
    let keyring: any Keyring
    /// The network now: the directory's view under signed membership, else the topology.
    let topologyNow: @Sendable () -> Topology
    /// Where the network policy in force at start came from, for the startup line.
    public let policySource: String
    let logger: Logger
    private let me: Topology.Trust
    /// Held while the runtime exists: one node per data folder.
    private let lock: DataFolderLock
    /// The peer listener's door (envelopes, refusals).
    private let peerDoor: PeerDoor
    private let counters = RuntimeCounters()
    /// Prometheus metrics, served at `/metrics`.
    let metrics = NodeMetrics()
    /// When each peer was last heard from, for the operator's view.
    let contacts = PeerContacts()
    /// The DICOM listener (C-ECHO, C-STORE, C-FIND), when configured.
    let dicom: DIMSEServer?
    /// The HL7 v2 feed listener (MLLP), when configured.
    let hl7: HL7Listener?
    /// The pre-fetch engine, when rules are given.
    let prefetcher: Prefetcher?
    /// Where every feed door hands an event once audited: the `feed` closure, then the pre-fetch engine.
    let deliverFeed: @Sendable (FeedEvent) async throws -> Void
    /// Where the trust's own people and systems reach the node.
    public let local: LocalListener
    /// Who may use the local listener: sign-in, sessions, bearer tokens, the permission table.
    let access: Access
    /// Timeouts and the per-address connection cap of both HTTP listeners.
    let httpLimits: HTTPLimits
    /// Largest STOW-RS request body, in bytes.
    let stowMaximumBytes: Int
    /// The syslog collector the audit log is forwarded to, if any.
    let auditSyslog: AuditSyslogSettings?

    /// Prepares a node to run: its keys must match the topology's entry for its trust.
    /// - Throws: if the trust is not in the topology, the topology lacks keys, or the keys differ.
    /// - Parameter fetchBatchBytes: compressed bytes asked for per chunk batch when fetching.
    /// - Parameter dicom: the DICOM listener's settings (nil: no listener); an empty host means the
    ///   local listener's host (DICOM is a door for the trust's own systems).
    /// - Parameter local: the local listener; nil: loopback, the peer port + 1000.
    /// - Parameter access: how people sign in and programs present tokens; nil: every door of the
    ///   local listener but health, assets and sign-in refuses (deny by default).
    /// - Parameter queryRetrieveAETitles: calling AE titles whose C-FIND and C-MOVE are answered;
    ///   empty: none (the DICOM listener stores and echoes only).
    /// - Parameter policy: the network's policy (`policy.json`), under which the holder decides every
    ///   share; nil: the one the current membership version carries (it follows newer versions), or
    ///   the defaults. Given under signed membership, it overrides the membership's.
    /// - Parameter httpLimits: timeouts and the per-address connection cap of both HTTP listeners.
    /// - Parameter stowMaximumBytes: the largest STOW-RS request body (default 4 GiB); larger is 413.
    /// - Parameter refusalAuditWindow: refusals from one source are audited once per window, then counted.
    /// - Parameter auditSyslog: a syslog collector every new audit entry is forwarded to (nil: none).
    /// - Parameter hl7: the HL7 v2 feed listener's settings (nil: no listener); an empty host means
    ///   the local listener's host.
    /// - Parameter feed: where each event the hospital's feeds tell the node goes once audited,
    ///   besides the pre-fetch engine (tests listen here). By default nothing more.
    /// - Parameter prefetchRules: the pre-fetch rules (`--prefetch-rules FILE`); nil: feed events
    ///   are audited and fetch nothing.
    /// - Parameter acceptPushFrom: the trusts whose emergency pushes this node accepts; empty: none.
    /// - Parameter pushMail: where the notice of each push received is e-mailed (nil: no e-mail).
    public init(
        node: LocalNode, topology given: Topology, settings: GossipSettings = GossipSettings(),
        fetchBatchBytes: Int = 8 << 20, treeHeadInterval: Duration = .seconds(30),
        dicom: DIMSEServer.Configuration? = nil, queryRetrieveAETitles: Set<String> = [],
        local: LocalListener? = nil, access: AccessSettings? = nil, policy: NetworkPolicy? = nil,
        httpLimits: HTTPLimits = HTTPLimits(), stowMaximumBytes: Int = 4 << 30,
        refusalAuditWindow: Duration = .seconds(60), auditSyslog: AuditSyslogSettings? = nil,
        network: String? = nil, hl7: HL7Listener.Configuration? = nil,
        feed: @escaping @Sendable (FeedEvent) async throws -> Void = { _ in }, prefetchRules: PrefetchRules? = nil,
        acceptPushFrom: Set<TrustID> = [], pushMail: PushMailSettings? = nil
    ) throws {
        let trust = node.configuration.trust
        lock = try DataFolderLock(directory: node.directory)
        // With a network file, who the members are and which keys they hold come from signed
        // statements (and change while the node runs); without, from the topology's pinned keys.
        let directory = try network.map { try node.loadNetworkDirectory(file: $0) }
        let topology: Topology
        if let directory {
            try node.adoptCertifiedKeys(directory.allCertificates(of: trust), actor: .system("node"))
            topology = directory.topology()
            guard topology.trust(trust) != nil else {
                throw ModelError.topology("\(trust) is not a member of the network in \(network ?? "")")
            }
            guard topology.trust(trust)?.signingKey == (try node.cachedSigningKey()).verifyingKey else {
                throw ModelError.topology(
                    "this node's signing key is not certified for \(trust) in the network (or its certificate "
                        + "expired or was revoked): certify it with `trustmesh keys rotate --data DIR --root ROOTDIR`")
            }
        } else {
            topology = given
            try topology.validate(requireKeys: true)
            guard let me = topology.trust(trust) else {
                throw ModelError.topology("\(trust) is not in this topology")
            }
            guard me.signingKey == node.configuration.signingPublicKey,
                me.agreementKey == node.configuration.agreementPublicKey
            else {
                throw ModelError.topology("the keys listed for \(trust) are not this node's keys")
            }
        }
        let me = topology.trust(trust)!
        let keyring: any Keyring
        let currentTopology: @Sendable () -> Topology
        if let directory {
            keyring = directory
            currentTopology = { directory.topology() }
        } else {
            var pinned: [TrustID: VerifyingKey] = [:]
            for entry in topology.trusts { pinned[entry.ods] = entry.signingKey }
            keyring = PinnedKeyring(pinned)
            let fixed = topology
            currentTopology = { fixed }
        }
        self.keyring = keyring
        topologyNow = currentTopology
        self.node = node
        self.topology = topology
        self.settings = settings
        self.me = me
        self.httpLimits = httpLimits
        self.stowMaximumBytes = stowMaximumBytes
        self.auditSyslog = auditSyslog
        node.refusals.window = Double(refusalAuditWindow.components.seconds)
        let local = try local ?? LocalListener.default(peerAddress: me.address)
        self.local = local
        _ = try node.cachedSigningKey()
        var logger = Logger(label: "trustmesh.\(trust.code)")
        logger.logLevel = .info
        self.logger = logger
        let counters = counters
        let metrics = metrics
        let certificateExchange = CertificateExchange()
        peerDoor = try PeerDoor(
            node: node, topology: currentTopology, contacts: contacts, logger: logger,
            certificates: certificateExchange.certificates
        ) { code in
            counters.refused(code.rawValue)
            metrics.peerRefusal(code.rawValue)
        }
        let auditAccess: @Sendable (AccessEvent) -> Void = { [node] event in
            let details = (try? JSONEncoder().encode(event.details)).map { String(decoding: $0, as: UTF8.self) }
            let kind = AuditEntry.Kind(rawValue: event.kind)
            if event.kind == "accessRefused", case .system(let name) = event.actor, name == "unauthenticated request" {
                // No credential verified: one source, aggregated so that a flood cannot flood the log.
                try? node.auditRefusal(
                    kind, source: name, actor: event.actor, details: details, reason: event.details["reason"])
            } else {
                try? node.audit(kind, actor: event.actor, details: details)
            }
        }
        self.access = try Access(
            settings: access, trust: trust, publicURL: local.publicURL, localAddress: local.address,
            sessionsPath: node.directory + "/access.sqlite", logger: logger, audit: auditAccess,
            page: { status, title, message, caller in
                WebUI.messagePage(status, title: title, message: message, caller: caller)
            })
        // Created after the last step that can throw: its HTTP client must be shut down once made.
        // The current key for every request: a rotation adopted while running takes effect at once.
        let client = PeerClient(
            me: trust, signing: { [node] in try node.cachedSigningKey() }, topology: currentTopology,
            certificates: certificateExchange.certificates)
        self.client = client
        // Under a signed membership, the policy it carries is the network's and changes with it,
        // unless the operator named one.
        let membershipPolicy = directory.flatMap { NetworkGossip.policy(of: $0.membership) }
        node.networkPolicy = policy ?? membershipPolicy ?? NetworkPolicy()
        policySource =
            policy != nil
            ? "given" : membershipPolicy != nil ? "of membership version \(directory!.membership.version)" : "defaults"
        fetchServer = FetchServer(node: node, logger: logger, keyring: keyring)
        treeHeads = TreeHeadGossip(
            node: node, keyring: keyring, client: client, interval: treeHeadInterval, logger: logger)
        networkGossip = directory.map { directory in
            NetworkGossip(
                node: node, directory: directory, client: client, logger: logger, followsPolicy: policy == nil
            ) { [node, logger] conflict in
                do {
                    try node.recordConflict(
                        kind: LocalNode.ConflictKind(rawValue: conflict.kind), trust: conflict.trust,
                        number: conflict.number, reason: conflict.reason, first: Data(conflict.held.utf8),
                        second: Data(conflict.other.utf8), actor: .system("network gossip"))
                } catch {
                    logger.error("could not record an equivocation: \(error)")
                }
            }
        }
        var fetchSettings = FetchEngine.Settings()
        fetchSettings.batchBytes = max(1, fetchBatchBytes)
        let fetchEngine = FetchEngine(
            node: node, client: client, settings: fetchSettings, logger: logger, metrics: metrics)
        fetches = fetchEngine
        let publicURL = local.publicURL
        pushes = EmergencyPush(
            node: node, client: client, fetches: fetchEngine, topology: currentTopology, acceptFrom: acceptPushFrom,
            logger: logger
        ) { [logger] notice in
            guard let pushMail else { return }
            await PushMailer.send(notice, settings: pushMail, baseURL: publicURL, logger: logger)
        }
        if let networkGossip { certificateExchange.connect(networkGossip) }
        gossip = GossipNode(
            id: trust, keyring: keyring,
            log: SQLiteIndexLog(table: node.store.index, node: node),
            transport: ContactRecordingTransport(base: HTTPGossipTransport(client: client), contacts: contacts),
            settings: settings)
        self.dicom = dicom.map { configuration in
            var configuration = configuration
            if configuration.host.isEmpty { configuration.host = local.host }
            return DIMSEServer(
                configuration: configuration,
                provider: NodeDICOMService(
                    node: node, topology: currentTopology, aeTitle: configuration.aeTitle,
                    queryRetrieveAETitles: queryRetrieveAETitles, logger: logger), logger: logger)
        }
        let prefetcher = prefetchRules.map { Prefetcher(node: node, fetches: fetchEngine, rules: $0) }
        self.prefetcher = prefetcher
        let deliver: @Sendable (FeedEvent) async throws -> Void = { event in
            try await feed(event)
            try prefetcher?.receive(event)
        }
        deliverFeed = deliver
        self.hl7 = hl7.map { configuration in
            var configuration = configuration
            if configuration.host.isEmpty { configuration.host = local.host }
            return HL7Listener(
                configuration: configuration, auditor: NodeHL7Auditor(node: node), deliver: deliver, logger: logger)
        }
    }

    /// The AE title a trust's node answers to by default: `TM_` and its ODS code, e.g. `TM_RRK`.
    public static func defaultAETitle(for trust: TrustID) -> String { NodeDICOMService.defaultAETitle(trust) }

    /// Serves until SIGINT or SIGTERM.
    /// - Parameter onListening: called with the bound port once the peer listener is up.
    /// - Parameter onLocalListening: called with the bound port once the local listener is up.
    /// - Parameter onDICOMListening: called with the DICOM listener's bound port once it is up.
    public func run(
        onListening: @escaping @Sendable (Int) -> Void = { _ in },
        onLocalListening: @escaping @Sendable (Int) -> Void = { _ in },
        onDICOMListening: @escaping @Sendable (Int) -> Void = { _ in },
        onHL7Listening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws {
        // Batch buffers are reused from the heap, not faulted in afresh (A/B: ~3% off a fetch).
        ProcessMemory.keepFreedMemoryForReuse()
        // The peer client must be shut down on every way out, or its HTTP client's deinit stops the process.
        do {
            try await serve(
                onListening: onListening, onLocalListening: onLocalListening, onDICOMListening: onDICOMListening,
                onHL7Listening: onHL7Listening)
        } catch {
            try? await client.shutdown()
            try? await access.shutdown()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                var addresses =
                    "\(me.address) (\(me.ods)'s address in the topology), the local address \(local.address)"
                if let dicom { addresses += " or the DICOM port \(dicom.configuration.port)" }
                if let hl7 { addresses += " or the HL7 port \(hl7.configuration.port)" }
                throw NodeError.addressInUse(addresses)
            }
            throw error
        }
        try await client.shutdown()
        try await access.shutdown()
    }

    private func serve(
        onListening: @escaping @Sendable (Int) -> Void, onLocalListening: @escaping @Sendable (Int) -> Void,
        onDICOMListening: @escaping @Sendable (Int) -> Void, onHL7Listening: @escaping @Sendable (Int) -> Void
    ) async throws {
        let (host, port) = try me.hostAndPort()
        var app = Application(
            router: peerRouter(),
            server: .http1(configuration: httpConfiguration()),
            configuration: .init(address: .hostname(host, port: port), serverName: "trustmesh"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        let localPort = local.port
        let http1: HTTPServerBuilder = .http1(configuration: httpConfiguration())
        let localApp = Application(
            router: localRouter(),
            server: try local.tls.map { files in
                try .tls(http1, tlsConfiguration: try Self.tlsConfiguration(files))
            } ?? http1,
            configuration: .init(address: .hostname(local.host, port: localPort), serverName: "trustmesh"),
            onServerRunning: { channel in onLocalListening(channel.localAddress?.port ?? localPort) },
            logger: logger)
        app.addServices(
            localApp, GossipLoop(runtime: self), treeHeads, RefusalAuditFlusher(node: node),
            CatalogueCheckpointer(store: node.store))
        if let networkGossip {
            app.addServices(NetworkGossipLoop(gossip: networkGossip, interval: settings.roundInterval))
        }
        if let dicom {
            app.addServices(DICOMListenerService(server: dicom, onListening: onDICOMListening))
        } else if let waiting = try? FileManager.default.contentsOfDirectory(atPath: node.directory + "/incoming/spool")
            .filter({ $0.hasSuffix(".dcm") }), !waiting.isEmpty
        {
            // Instances answered Success by an earlier run's DICOM listener are catalogued by the
            // listener's spool worker: without a listener they wait (safely) until it runs again.
            logger.warning(
                "instances received over DICOM wait in the spool: start the node with --dicom-port to catalogue them",
                metadata: ["instances": "\(waiting.count)", "spool": "\(node.directory)/incoming/spool"])
        }
        if let hl7 { app.addServices(HL7ListenerService(listener: hl7, onListening: onHL7Listening)) }
        if let prefetcher { app.addServices(PrefetchLoop(prefetcher: prefetcher, logger: logger)) }
        if let auditSyslog { app.addServices(AuditSyslogForwarder(node: node, settings: auditSyslog, logger: logger)) }
        logger.info(
            "node starting", metadata: ["trust": "\(me.ods)", "address": "\(me.address)", "local": "\(local.address)"])
        try node.audit(.nodeStarted, actor: .system("node"))
        let outcome: Result<Void, any Error>
        do {
            try await app.runService()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try? node.audit(.nodeStopped, actor: .system("node"))
        // A head of the whole log, `nodeStopped` included, so that no entry is left unpinned.
        await treeHeads.finish()
        logger.info("node stopped", metadata: ["trust": "\(me.ods)"])
        try outcome.get()
    }

    /// One HTTP listener's channel configuration: `Expect: 100-continue`, the per-address cap and
    /// header timeout (each listener counts its own connections), Hummingbird's idle timeout.
    private func httpConfiguration() -> HTTP1Channel.Configuration {
        let counter = AddressCounter(limit: httpLimits.connectionsPerAddress)
        let limits = httpLimits
        let logger = logger
        let (seconds, attoseconds) = limits.idleTimeout.components
        return .init(
            additionalChannelHandlers: [
                ExpectContinueHandler(),
                ConnectionLimitHandler(counter: counter, headerTimeout: limits.headerTimeout, logger: logger),
            ],
            idleTimeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }

    /// Releases the HTTP clients of a runtime that was built but never run (``run`` does this itself).
    package func close() async throws {
        try await client.shutdown()
        try await access.shutdown()
    }

    /// A server TLS configuration from PEM files.
    /// - Throws: ``NodeError`` naming the file that cannot be read.
    static func tlsConfiguration(_ files: LocalListener.TLSFiles) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(files.certificate) } catch {
            throw ModelError.topology("--tls-certificate \(files.certificate): not a readable PEM certificate chain")
        }
        do { key = try NIOSSLPrivateKey(file: files.key, format: .pem) } catch {
            throw ModelError.topology("--tls-key \(files.key): not a readable PEM private key")
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    /// Test-only fault injection: with `TRUSTMESH_FAULT_BATCH_GATE=FILE`, the holder serves its
    /// first chunk batch, then holds every later one until FILE exists (at most ten minutes: longer than any test).
    static let batchGate: String? = ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_BATCH_GATE"]

    /// One gossip round now (the loop calls this every interval).
    func gossipRound() async {
        await gossip.runRound()
        counters.roundRun()
        metrics.gossipRound()
    }

    // MARK: Doors

    /// The peer listener's routes: the peer protocol only.
    private func peerRouter() -> Router<PeerRequestContext> {
        let router = Router(context: PeerRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.addRoutes(peerDoor.routes(peerHandlers()))
        return router
    }

    /// The local listener's routes: everything for the trust's own people and systems.
    /// Each door's routes sit behind the access guard (``AccessTable`` says what each needs); the
    /// listener refuses a foreign `Host` before any door.
    package func localRouter() -> Router<AccessContext> {
        let router = Router(context: AccessContext.self)
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        router.add(middleware: access.listenerMiddleware)
        let guarded = [access.guardMiddleware]
        var services = LocalServices(
            node: node, topology: topologyNow, fetches: fetches, contacts: contacts, baseURL: local.publicURL,
            logger: logger, status: { try await self.status() }, pushes: pushes)
        services.prefetcher = prefetcher
        services.deliverFeed = deliverFeed
        router.addRoutes(SignInRoutes(access).routes())
        router.addRoutes(LocalAPI(services).routes(middleware: guarded))
        router.addRoutes(
            DICOMwebRoutes(
                node: node, topology: topologyNow, baseURL: local.publicURL, logger: logger,
                stowMaximumBytes: stowMaximumBytes
            ).routes(middleware: guarded))
        router.addRoutes(FHIRImagingStudy.routes(services, middleware: guarded))
        router.addRoutes(FHIRFeedRoutes(node: node, logger: logger, deliver: deliverFeed).routes(middleware: guarded))
        router.addRoutes(metrics.routes(runtime: self, middleware: guarded))
        router.addRoutes(WebUI(services).routes(middleware: guarded))
        return router
    }

    /// What each peer route does with an opened request, and the most body it reads (sealed bytes:
    /// what the route's largest genuine request needs, with room to spare).
    private func peerHandlers() -> [String: PeerDoor.Route] {
        [
            "/peer/v1/gossip": .init(maximumBody: 8 << 20) { from, payload in
                // The body names no sender: the envelope authenticated it (one that names another
                // trust does not decode).
                let decoder = JSONDecoder()
                decoder.userInfo[GossipRequest.senderKey] = from.ods
                let gossipRequest = try decoder.decode(GossipRequest.self, from: Data(payload))
                return .sealed(try JSONEncoder().encode(try await self.gossip.handle(gossipRequest)))
            },
            NetworkGossip.path: .init(maximumBody: 4 << 20) { from, payload in
                guard let network = self.networkGossip else {
                    throw PeerRefusal(
                        .notFound, "this node takes no network statements (it runs without a network file)")
                }
                return .sealed(try network.receive(payload, from: from))
            },
            TreeHeadGossip.headsPath: .init(maximumBody: 1 << 20) { from, payload in
                .sealed(try self.treeHeads.receive(payload, from: from))
            },
            TreeHeadGossip.consistencyPath: .init(maximumBody: 4 << 10) { from, payload in
                .sealed(try self.treeHeads.consistency(payload, from: from))
            },
            FetchRoutes.manifest: .init(maximumBody: 1 << 20) { from, payload in
                .sealed(try self.fetchServer.manifest(from: from, payload: payload))
            },
            FetchRoutes.push: .init(maximumBody: 256 << 10) { from, payload in
                .sealed(try self.pushes.receive(from: from, payload: payload))
            },
            FetchRoutes.chunks: .init(maximumBody: 4 << 20) { from, payload in
                // Test-only: a holder that serves one batch, then waits for a file to appear, so
                // that a test can act while a fetch is running.
                if let gate = Self.batchGate, self.counters.batchServed() > 1 {
                    for _ in 0..<12_000 where !FileManager.default.fileExists(atPath: gate) {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                return .stream(try self.fetchServer.chunks(from: from, payload: payload))
            },
        ]
    }

    /// The operator's view of the node.
    public func status() async throws -> NodeStatus {
        let counts = try node.store.index.countsByOrigin()
        let stats = try node.store.statistics()
        let counters = counters.snapshot
        return NodeStatus(
            trust: me.ods.code, name: me.name, address: me.address,
            peers: topologyNow().trusts.filter { $0.ods != me.ods }.map {
                .init(ods: $0.ods.code, name: $0.name, address: $0.address, records: counts[$0.ods] ?? 0)
            },
            ownRecords: counts[me.ods] ?? 0, studies: stats.studies, instances: stats.instances,
            storedBytes: stats.storedBytes, gossipRounds: counters.rounds,
            failedExchanges: await gossip.failedExchanges, acceptedRecords: await gossip.acceptedRecords,
            rejectedRecords: await gossip.rejectedRecords, refusals: counters.refusals,
            dicom: dicom.map { NodeStatus.DICOMListener($0.statistics) })
    }
}

/// The runtime's counters, shared with the peer door's refusal callback.
final class RuntimeCounters: Sendable {
    struct Values {
        var rounds = 0
        var refusals: [String: Int] = [:]
        var batchesServed = 0
    }
    private let values = Mutex(Values())

    func refused(_ code: String) { values.withLock { $0.refusals[code, default: 0] += 1 } }
    func roundRun() { values.withLock { $0.rounds += 1 } }
    /// Counts a chunk batch asked of this holder; returns how many so far (for the test-only gate).
    func batchServed() -> Int {
        values.withLock {
            $0.batchesServed += 1; return $0.batchesServed
        }
    }
    var snapshot: Values { values.withLock { $0 } }
}

/// Writes the counts of refusal windows that have ended (``LocalNode/auditRefusal(_:source:actor:subject:details:now:)``)
/// when no later refusal does, and every open window's count when the node stops.
struct RefusalAuditFlusher: Service {
    let node: LocalNode

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                try? node.flushRefusals()
            }
        }
        try? node.flushRefusals(all: true)
    }
}

/// Checkpoints the catalogue's write-ahead log every 100 ms (``StudyStore/checkpointCatalogue()``),
/// so that no request's commit has to, and once more when the node stops.
struct CatalogueCheckpointer: Service {
    let store: StudyStore

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(100))
                try? store.checkpointCatalogue()
            }
        }
        try? store.checkpointCatalogue()
    }
}

/// Starts the pre-fetches whose time has come, and follows those running, every second
/// (``Prefetcher/runDue(now:)``).
///
/// Test-only: with `TRUSTMESH_FAULT_PREFETCH_GATE=FILE` nothing is started until FILE exists, so a
/// test can send a whole clinic's messages, cancellations included, before any task may run,
/// however loaded the machine (docs/ARCHITECTURE.md, "Fault injection").
struct PrefetchLoop: Service {
    let prefetcher: Prefetcher
    let logger: Logger
    static let gate = ProcessInfo.processInfo.environment["TRUSTMESH_FAULT_PREFETCH_GATE"]

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let gate = Self.gate, !FileManager.default.fileExists(atPath: gate) {
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                do { try prefetcher.runDue() } catch { logger.error("pre-fetch: \(error)") }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
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
