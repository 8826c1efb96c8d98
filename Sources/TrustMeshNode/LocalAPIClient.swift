import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
public import TrustMeshFetch
public import TrustMeshModel
public import TrustMeshNodeCore

/// Asks a running node's local API, as the `trustmesh` command and scripts do.
public enum LocalAPIClient {
    /// A patient's studies across the network, as the node at `node` (e.g. `http://127.0.0.1:7401`) knows them.
    public static func query(node: NodeEndpoint, nhs: NHSNumber) async throws -> FederatedQueryResult {
        try await get(node, "/api/v1/query?nhs=\(nhs.digits)")
    }

    /// The node's status.
    public static func status(node: NodeEndpoint) async throws -> NodeStatus {
        try await get(node, "/api/v1/status")
    }

    /// Records a care relationship at the node (signed by it), as the signed-in clinician whose token `node` carries.
    public static func addCare(
        node: NodeEndpoint, nhs: String, kind: String, reason: String? = nil, justification: String? = nil,
        expires: String?
    ) async throws -> CareRelationship {
        var body = ["nhs": nhs, "kind": kind]
        if let reason { body["reason"] = reason }
        if let justification { body["justification"] = justification }
        if let expires { body["expires"] = expires }
        return try await send(node, "/api/v1/care", body: try JSONEncoder().encode(body))
    }

    /// Records (or withdraws) a patient's opt-out at the node, as the signed-in person; returns the
    /// signed record.
    public static func optOut(node: NodeEndpoint, nhs: String, reference: String, withdraw: Bool) async throws
        -> IndexRecord
    {
        struct Body: Encodable {
            var nhs: String
            var reference: String
            var withdraw: Bool
        }
        return try await send(
            node, "/api/v1/optout",
            body: try JSONEncoder().encode(Body(nhs: nhs, reference: reference, withdraw: withdraw)))
    }

    /// The node's care relationships, newest first.
    public static func care(node: NodeEndpoint) async throws -> [CareRelationship] {
        try await get(node, "/api/v1/care")
    }

    /// Starts a fetch at the node, as the signed-in person, under the trust's current care
    /// relationship for the patient; returns its first progress report (with its id).
    public static func startFetch(node: NodeEndpoint, study: String, from: String?) async throws -> FetchProgress {
        var body = ["study": study]
        if let from { body["from"] = from }
        return try await send(node, "/api/v1/fetch", body: try JSONEncoder().encode(body))
    }

    /// Pushes a study held at the node to a named clinician at another trust (an emergency push),
    /// as the signed-in clinician; returns the receiving trust's acceptance.
    public static func push(
        node: NodeEndpoint, study: String, to: String, clinician: String, reason: String, kind: String
    ) async throws -> PushAcceptance {
        let body = ["study": study, "to": to, "clinician": clinician, "reason": reason, "kind": kind]
        return try await send(node, "/api/v1/push", body: try JSONEncoder().encode(body))
    }

    /// A fetch's progress.
    public static func fetchProgress(node: NodeEndpoint, id: String) async throws -> FetchProgress {
        try await get(node, "/api/v1/fetch/\(id)")
    }

    private static func get<T: Decodable>(_ node: NodeEndpoint, _ path: String) async throws -> T {
        try await send(node, path, body: nil)
    }

    private static func send<T: Decodable>(_ node: NodeEndpoint, _ path: String, body: Data?) async throws -> T {
        // `127.0.0.1:8401` means the node's local API, over HTTP.
        let url = node.url.contains("://") ? node.url : "http://" + node.url
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        var request = HTTPClientRequest(url: base + path)
        if let token = node.token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            let refused = "\(error)".contains("Connection refused")
            throw NodeError.io(
                path: base,
                reason: refused
                    ? "nothing is listening there: is the node running, and is this its address?"
                    : "the node does not answer (is it running?): \(error)")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            let answer = try? JSONDecoder().decode([String: String].self, from: Data(buffer: body))
            guard let message = answer?["error"] else {
                throw NodeError.io(path: base, reason: "the node answered HTTP \(response.status.code)")
            }
            let rule = answer?["rule"].flatMap { $0.isEmpty ? nil : " [rule: \($0)]" } ?? ""
            throw LocalAPIError(description: message + rule)
        }
        return try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }
}

/// A node's local listener and the bearer access token to present there.
public struct NodeEndpoint: Sendable, Hashable {
    /// e.g. `http://127.0.0.1:8401`.
    public var url: String
    /// An access token for the node (`trustmesh login`); nil: none (refused by every guarded door).
    public var token: String?

    public init(url: String, token: String?) {
        self.url = url
        self.token = token
    }
}

/// The receiving trust's acceptance of an emergency push.
public struct PushAcceptance: Sendable, Codable {
    /// The push's id, which both trusts log.
    public var pushID: String
    /// The receiving trust.
    public var receiver: String
    /// The study.
    public var studyUID: String
    /// The receiver's words.
    public var message: String
}

/// A node's local API refused a request; the text is the node's reason.
public struct LocalAPIError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
