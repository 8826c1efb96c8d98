import Foundation
import Glibc
import Synchronization
public import TrustMeshCrypto
public import TrustMeshModel
package import TrustMeshPolicy
public import TrustMeshStore

/// What a node's `node.json` says about it: who it is and its public keys.
public struct NodeConfiguration: Codable, Sendable, Equatable {
    /// Version of this file's format.
    public var format: Int
    public var trust: TrustID
    /// The trust's display name, e.g. "University Hospitals Birmingham".
    public var name: String
    /// Ed25519 key that signs the node's records, requests and audit entries.
    public var signingPublicKey: VerifyingKey
    /// X25519 key that payloads to this node are sealed to.
    public var agreementPublicKey: AgreementPublicKey
    public var createdAt: String
}

/// One trust's node on disk: its identity (`node.json`, `keys/`) and its ``StudyStore``.
///
/// ```
/// DIR/node.json              trust, name, public keys
/// DIR/keys/signing.key       Ed25519 secret key (0600)
/// DIR/keys/agreement.key     X25519 secret key (0600)
/// DIR/store/catalogue.sqlite studies, series, instances, manifests, chunks
/// DIR/store/chunks/          zstd chunks named by BLAKE2b-256
/// DIR/node.lock              held by a running `node run` (one node per folder)
/// ```
public final class LocalNode: Sendable {
    public let directory: String
    public let configuration: NodeConfiguration
    public let store: StudyStore
    private let signingKeyCache = Mutex<SigningKey?>(nil)
    private let policyBox = Mutex(NetworkPolicy())

    /// The network's policy this node decides under (`node run` sets the one it loaded; commands run
    /// with `--data` use the defaults): the care caps an opt-out's care relationship is judged by.
    package var networkPolicy: NetworkPolicy {
        get { policyBox.withLock { $0 } }
        set { policyBox.withLock { $0 = newValue } }
    }

    /// Refusals from one source, aggregated per window (``auditRefusal(_:source:actor:subject:details:now:)``).
    package let refusals = RefusalAggregator()

    /// Opens an existing node.
    /// - Throws: ``NodeError/notANode(directory:)`` when `directory` holds no node.
    public init(directory: String) throws {
        self.directory = directory
        let path = directory + "/node.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError.notANode(directory: directory)
        }
        do {
            configuration = try JSONDecoder().decode(NodeConfiguration.self, from: data)
        } catch {
            throw NodeError.configuration(path: path, reason: "unreadable node configuration: \(error)")
        }
        store = try StudyStore(directory: directory + "/store")
    }

    /// The node's signing key, read from its 0600 key file.
    public func signingKey() throws -> SigningKey { try SigningKey.read(from: directory + "/keys/signing.key") }

    /// The signing key, read once per process (and replaced when a rotation is adopted).
    package func cachedSigningKey() throws -> SigningKey {
        if let key = signingKeyCache.withLock({ $0 }) { return key }
        let key = try signingKey()
        signingKeyCache.withLock { $0 = key }
        return key
    }

    /// Appends an audit entry signed with the current key, under the key's lock: no entry signed
    /// with an old key can follow the `keyChanged` entry of a rotation.
    package func appendAuditEntry(_ draft: AuditEntry.Draft) throws {
        try signingKeyCache.withLock { cache in
            let key = try cache ?? signingKey()
            cache = key
            _ = try store.audit.append(draft, key: key)
        }
    }

    /// Replaces the signing key under the audit lock: `move` puts the new key files in place and
    /// returns the `keyChanged` entry, which is the first signed with `key`.
    package func switchSigningKey(
        to key: SigningKey, _ move: (_ previous: SigningKey) throws -> AuditEntry.Draft
    ) throws {
        try signingKeyCache.withLock { cache in
            let previous = try cache ?? signingKey()
            let draft = try move(previous)
            cache = key
            _ = try store.audit.append(draft, key: key)
        }
    }

    /// The node's X25519 key, read from its 0600 key file.
    public func agreementKey() throws -> AgreementKey { try AgreementKey.read(from: directory + "/keys/agreement.key") }

    /// Creates a node: fresh keys (files 0600 in a 0700 folder), an empty store, and `node.json`,
    /// written last so that a half-created node is never mistaken for a whole one.
    /// - Throws: ``NodeError/alreadyInitialised(directory:)`` if `directory` already holds a node or keys.
    @discardableResult
    public static func create(directory: String, trust: TrustID, name: String) throws -> LocalNode {
        let manager = FileManager.default
        let keys = directory + "/keys"
        if manager.fileExists(atPath: directory + "/node.json") || manager.fileExists(atPath: keys + "/signing.key")
            || manager.fileExists(atPath: keys + "/agreement.key")
        {
            throw NodeError.alreadyInitialised(directory: directory)
        }
        do {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try manager.createDirectory(
                atPath: keys, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw NodeError.io(
                path: directory, reason: "cannot create the node's folders: \(error.localizedDescription)")
        }
        let signing = SigningKey()
        let agreement = AgreementKey()
        try signing.write(to: keys + "/signing.key")
        try agreement.write(to: keys + "/agreement.key")
        _ = try StudyStore(directory: directory + "/store")
        let configuration = NodeConfiguration(
            format: 1, trust: trust, name: name, signingPublicKey: signing.verifyingKey,
            agreementPublicKey: agreement.publicKey, createdAt: ISO8601DateFormatter().string(from: Date())
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(configuration)
        let path = directory + "/node.json"
        do {
            try data.write(to: URL(fileURLWithPath: path), options: [.atomic])
        } catch {
            throw NodeError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
        return try LocalNode(directory: directory)
    }
}
