import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import TrustMeshModel

/// Asks a running node's local API, as the `trustmesh` command and scripts do.
public enum LocalAPIClient {
    /// A patient's studies across the network, as the node at `node` (e.g. `http://127.0.0.1:7401`) knows them.
    public static func query(node: String, nhs: NHSNumber) async throws -> FederatedQueryResult {
        try await get(node, "/api/v1/query?nhs=\(nhs.digits)")
    }

    /// The node's status.
    public static func status(node: String) async throws -> NodeStatus {
        try await get(node, "/api/v1/status")
    }

    private static func get<T: Decodable>(_ node: String, _ path: String) async throws -> T {
        let base = node.hasSuffix("/") ? String(node.dropLast()) : node
        let request = HTTPClientRequest(url: base + path)
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw NodeError.io(path: base, reason: "the node does not answer (is it running?): \(error)")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            let message = (try? JSONDecoder().decode([String: String].self, from: Data(buffer: body)))?["error"]
            throw NodeError.io(path: base, reason: message ?? "HTTP \(response.status.code)")
        }
        return try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }
}
