import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Synchronization
import TrustMeshAccess
import TrustMeshFetch
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// The node's Prometheus metrics (swift-prometheus), served at `GET /metrics` in the text
/// exposition format.
///
/// Each node process has its own registry (no global `MetricsSystem` bootstrap), so several
/// runtimes in one test process do not mix their numbers. Events the node counts itself are
/// incremented where they happen; totals that other parts already keep (gossip records accepted,
/// audit entries, instances held) are brought up to date when the endpoint is scraped.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `trustmesh_http_requests_total` | counter | `area` (page, api, fhir, peer, metrics, asset), `method`, `status` |
/// | `trustmesh_peer_refusals_total` | counter | `reason` (the wire code, e.g. `badSignature`) |
/// | `trustmesh_fetch_refusals_total` | counter | `rule` (the policy rule, e.g. `noCareRelationship`) |
/// | `trustmesh_gossip_rounds_total` | counter | |
/// | `trustmesh_gossip_failed_exchanges_total` | counter | |
/// | `trustmesh_gossip_records_accepted_total` | counter | |
/// | `trustmesh_fetches_total` | counter | `outcome` (completed, failed) |
/// | `trustmesh_fetch_bytes_total` | counter | (compressed bytes received and verified) |
/// | `trustmesh_fetch_duration_seconds` | histogram | |
/// | `trustmesh_audit_appends_total` | counter | (entries in the node's log) |
/// | `trustmesh_ingested_instances` | gauge | (instances held) |
/// | `trustmesh_stored_bytes` | gauge | (chunk bytes on disk) |
/// | `trustmesh_index_records` | gauge | `origin` (ODS code) |
final class NodeMetrics: FetchMetrics {
    let registry = PrometheusCollectorRegistry()
    private let gossipRounds: Counter
    private let fetchBytes: Counter
    private let fetchDuration: DurationHistogram
    private let auditAppends: Counter
    private let gossipAccepted: Counter
    private let gossipFailed: Counter
    private let instances: Gauge
    private let storedBytes: Gauge
    /// What was last added from totals kept elsewhere, so a scrape adds only the difference.
    private let seen = Mutex(Seen())

    private struct Seen {
        var audit = 0
        var accepted = 0
        var failed = 0
    }

    /// A metric's full name and help text (the descriptor's parts joined with `_` give the name).
    private static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    init() {
        gossipRounds = registry.makeCounter(
            descriptor: Self.named("trustmesh_gossip_rounds_total", "Gossip rounds run"))
        fetchBytes = registry.makeCounter(
            descriptor: Self.named(
                "trustmesh_fetch_bytes_total", "Compressed chunk bytes received and verified by fetches"))
        fetchDuration = registry.makeDurationHistogram(
            descriptor: Self.named("trustmesh_fetch_duration_seconds", "Time from a fetch's start to its end"),
            buckets: [.milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(60)])
        auditAppends = registry.makeCounter(
            descriptor: Self.named("trustmesh_audit_appends_total", "Entries appended to the node's audit log"))
        gossipAccepted = registry.makeCounter(
            descriptor: Self.named("trustmesh_gossip_records_accepted_total", "Index records accepted from peers"))
        gossipFailed = registry.makeCounter(
            descriptor: Self.named(
                "trustmesh_gossip_failed_exchanges_total", "Gossip exchanges that failed (peer down)"))
        instances = registry.makeGauge(
            descriptor: Self.named("trustmesh_ingested_instances", "DICOM instances held"))
        storedBytes = registry.makeGauge(
            descriptor: Self.named("trustmesh_stored_bytes", "Chunk bytes on disk"))
    }

    func request(area: String, method: String, status: Int) {
        registry.makeCounter(
            descriptor: Self.named("trustmesh_http_requests_total", "HTTP requests served"),
            labels: [("area", area), ("method", method), ("status", "\(status)")]
        ).increment()
    }

    func peerRefusal(_ reason: String) {
        registry.makeCounter(
            descriptor: Self.named("trustmesh_peer_refusals_total", "Peer requests refused"),
            labels: [("reason", reason)]
        ).increment()
    }

    func fetchRefusal(_ rule: String) {
        registry.makeCounter(
            descriptor: Self.named(
                "trustmesh_fetch_refusals_total", "Fetches refused by a sharing rule (here or at the holder)"),
            labels: [("rule", rule)]
        ).increment()
    }

    func gossipRound() { gossipRounds.increment() }

    func fetchEnded(completed: Bool, bytes: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.named("trustmesh_fetches_total", "Fetches ended"),
            labels: [("outcome", completed ? "completed" : "failed")]
        ).increment()
        if bytes > 0 { fetchBytes.increment(by: Int64(bytes)) }
        fetchDuration.record(duration)
    }

    /// Brings the totals kept elsewhere up to date, then renders every metric.
    func scrape(runtime: NodeRuntime) async -> [UInt8] {
        let audit = (try? runtime.node.store.audit.count()) ?? 0
        let accepted = await runtime.gossip.acceptedRecords
        let failed = await runtime.gossip.failedExchanges
        let (newAudit, newAccepted, newFailed) = seen.withLock { seen in
            defer {
                seen = Seen(
                    audit: max(seen.audit, audit), accepted: max(seen.accepted, accepted),
                    failed: max(seen.failed, failed))
            }
            return (max(0, audit - seen.audit), max(0, accepted - seen.accepted), max(0, failed - seen.failed))
        }
        if newAudit > 0 { auditAppends.increment(by: Int64(newAudit)) }
        if newAccepted > 0 { gossipAccepted.increment(by: Int64(newAccepted)) }
        if newFailed > 0 { gossipFailed.increment(by: Int64(newFailed)) }
        if let stats = try? runtime.node.store.statistics() {
            instances.set(Double(stats.instances))
            storedBytes.set(Double(stats.storedBytes))
        }
        if let counts = try? runtime.node.store.index.countsByOrigin() {
            for (origin, count) in counts {
                registry.makeGauge(
                    descriptor: Self.named("trustmesh_index_records", "Index records held, by origin trust"),
                    labels: [("origin", origin.code)]
                ).set(Double(count))
            }
        }
        return registry.emitToBuffer()
    }
}

/// Counts every request by area, method and status.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: NodeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let area = Self.area(request.uri.path)
        let method = request.method.rawValue
        do {
            let response = try await next(request, context)
            metrics.request(area: area, method: method, status: response.status.code)
            return response
        } catch {
            metrics.request(area: area, method: method, status: (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }

    /// A coarse area, so that the number of series stays small whatever paths are asked for.
    static func area(_ path: String) -> String {
        if path.hasPrefix("/api/") { return "api" }
        if path.hasPrefix("/fhir/") { return "fhir" }
        if path.hasPrefix("/peer/") { return "peer" }
        if path.hasPrefix("/assets/") { return "asset" }
        if path == "/metrics" { return "metrics" }
        return "page"
    }
}

extension NodeMetrics {
    /// The metrics door: `GET /metrics`.
    func routes(
        runtime: NodeRuntime, middleware: [any MiddlewareProtocol<Request, Response, AccessContext>] = []
    ) -> RouteCollection<AccessContext> {
        let router = RouteCollection(context: AccessContext.self)
        for layer in middleware { router.add(middleware: layer) }
        router.get("/health") { _, _ -> Response in
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
            response.headers[.contentType] = "text/plain; charset=utf-8"
            return response
        }
        router.get("/metrics") { _, _ -> Response in
            let body = await self.scrape(runtime: runtime)
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: body)))
            response.headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        }
        return router
    }
}
