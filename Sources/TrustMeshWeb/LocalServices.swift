package import Logging
package import TrustMeshFetch
package import TrustMeshModel
package import TrustMeshNodeCore
package import TrustMeshPeer
package import TrustMeshPrefetch

/// What the local doors (the page, the JSON API, FHIR) are given by the node that runs them.
package struct LocalServices: Sendable {
    package let node: LocalNode
    /// The network now (membership changes while the node runs): names and addresses of trusts.
    package var topology: Topology { currentTopology() }
    private let currentTopology: @Sendable () -> Topology
    package let fetches: FetchEngine
    /// When each peer was last heard from, for the operator's view.
    package let contacts: PeerContacts
    /// The node's configured base URL (no trailing slash): absolute links are built from it.
    package let baseURL: String
    package let logger: Logger
    /// The operator's view of the node.
    package let status: @Sendable () async throws -> NodeStatus
    /// Emergency pushes (nil: this node neither pushes nor lists pushes).
    package let pushes: EmergencyPush?
    /// The pre-fetch engine, for the worklist pages (nil: the node runs without pre-fetch rules).
    package var prefetcher: Prefetcher?
    /// Where a clinic or MDT list uploaded on the page goes once audited, as the feeds' events do
    /// (nil: nowhere, and the page does not offer the upload).
    package var deliverFeed: (@Sendable (FeedEvent) async throws -> Void)?

    package init(
        node: LocalNode, topology: @escaping @Sendable () -> Topology, fetches: FetchEngine, contacts: PeerContacts,
        baseURL: String,
        logger: Logger,
        status: @escaping @Sendable () async throws -> NodeStatus, pushes: EmergencyPush? = nil
    ) {
        self.pushes = pushes
        self.node = node
        self.currentTopology = topology
        self.fetches = fetches
        self.contacts = contacts
        self.baseURL = baseURL
        self.logger = logger
        self.status = status
    }
}
