package import Foundation
import Glibc
import TrustMeshCrypto
package import TrustMeshModel
import TrustMeshStore

/// The node's side of network membership and key rotation: the statements it holds, and the
/// moment it takes new keys.
///
/// New node keys wait in `keys/next/` (made by `trustmesh keys rotate` on this machine, certified
/// by the trust's root) until a certificate for them is held; then ``adoptCertifiedKeys(_:)``
/// moves the old keys to `keys/retired/` and the new ones into place, and the first audit entry
/// signed with the new key is `keyChanged`, naming the old one (docs/AUDIT-FORMAT.md).
extension LocalNode {
    /// Where keys made for a rotation wait for their certificate.
    package var nextKeysDirectory: String { directory + "/keys/next" }

    /// The directory this node believes: the pinned network file (`network.json`: the first
    /// membership version taken on trust, then every statement in it applied in order), then
    /// every statement this node stored.
    /// - Throws: ``NodeError/configuration(path:reason:)`` if the file is unreadable or its first
    ///   membership is not signed by its threshold.
    package func loadNetworkDirectory(file: String) throws -> NetworkDirectory {
        let state = try Self.readNetworkState(file)
        guard let pinned = state.memberships.min(by: { $0.membership.version < $1.membership.version }) else {
            throw NodeError.configuration(path: file, reason: "the network file holds no membership document")
        }
        let directory: NetworkDirectory
        do {
            directory = try NetworkDirectory(pinned: pinned)
        } catch {
            throw NodeError.configuration(path: file, reason: "\(error)")
        }
        _ = directory.merge(state)
        _ = directory.merge(try store.network.statements().state)
        // Kept with everything learnt later, so that the store alone says what the node believes
        // (`membership export`).
        try store.network.add(directory.state)
        return directory
    }

    /// Reads a network file (`NetworkDirectory.State` as JSON).
    /// - Throws: ``NodeError/configuration(path:reason:)`` naming what is wrong.
    package static func readNetworkState(_ file: String) throws -> NetworkDirectory.State {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw NodeError.io(path: file, reason: "cannot read the network file")
        }
        do {
            return try JSONDecoder().decode(NetworkDirectory.State.self, from: data)
        } catch {
            throw NodeError.configuration(path: file, reason: "not a network file: \(error)")
        }
    }

    /// Writes a network file, sorted keys, atomically.
    package static func writeNetworkState(_ state: NetworkDirectory.State, to file: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(state).write(to: URL(fileURLWithPath: file), options: [.atomic])
        } catch {
            throw NodeError.io(path: file, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// If `certificates` hold one of this trust for the keys waiting in `keys/next/`,
    /// makes them the node's keys: the old ones move to `keys/retired/`, `node.json` names the new
    /// public keys, and the audit log's next entry is `keyChanged` (signed with the new key, naming
    /// the old), then `keyCertified`. Entries are appended under the same lock as every other
    /// entry, so none signed with the old key follows `keyChanged`.
    /// - Returns: The certificate adopted, or nil if no keys wait or none is certified yet.
    @discardableResult
    package func adoptCertifiedKeys(_ certificates: [KeyCertificate], actor: Actor) throws -> KeyCertificate? {
        let next = nextKeysDirectory
        guard FileManager.default.fileExists(atPath: next + "/signing.key") else { return nil }
        let signing = try SigningKey.read(from: next + "/signing.key")
        let agreement = try AgreementKey.read(from: next + "/agreement.key")
        guard
            let certificate = certificates.first(where: {
                $0.trust == configuration.trust && $0.signingKey == signing.verifyingKey
                    && $0.agreementKey == agreement.publicKey
            })
        else { return nil }
        let keys = self.directory + "/keys"
        let retired = keys + "/retired"
        try FileManager.default.createDirectory(
            atPath: retired, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let stamp = Timestamp.text(Date()).filter { $0.isNumber }
        try switchSigningKey(to: signing) { previous in
            for name in ["signing", "agreement"] {
                guard rename(keys + "/\(name).key", retired + "/\(name)-\(stamp).key") == 0,
                    rename(next + "/\(name).key", keys + "/\(name).key") == 0
                else {
                    throw NodeError.io(
                        path: keys, reason: "cannot move the \(name) key: \(String(cString: strerror(errno)))")
                }
            }
            rmdir(next)
            var configuration = self.configuration
            configuration.signingPublicKey = signing.verifyingKey
            configuration.agreementPublicKey = agreement.publicKey
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(configuration).write(
                to: URL(fileURLWithPath: self.directory + "/node.json"), options: [.atomic])
            return
                (AuditEntry.Draft(
                    trust: configuration.trust, time: CareTime.format(Date()), kind: .keyChanged,
                    actor: actor.displayName, subject: actor.auditSubject, details: previous.verifyingKey.base64))
        }
        try audit(
            .keyCertified, actor: actor,
            subject: [.peer: configuration.trust.code, .serial: String(certificate.serial)],
            details: Self.auditJSON(certificate))
        return certificate
    }

    /// Audits what applying network statements did: each certificate, revocation and membership
    /// version taken in (`keyCertified`, `keyRevoked`, `membershipChanged`). Refusals are not
    /// audited here: gossip offers them again, and most are statements that arrived early.
    package func auditNetworkOutcomes(_ outcomes: [NetworkDirectory.Outcome], actor: Actor) throws {
        for case .applied(let applied) in outcomes {
            switch applied {
            case .membership(let signed, let changes):
                try audit(
                    .membershipChanged, actor: actor, subject: [.version: String(signed.membership.version)],
                    details: changes)
            case .certificate(let certificate):
                try audit(
                    .keyCertified, actor: actor,
                    subject: [.peer: certificate.trust.code, .serial: String(certificate.serial)],
                    details: Self.auditJSON(certificate))
            case .revocation(let revocation):
                try audit(
                    .keyRevoked, actor: actor,
                    subject: [.peer: revocation.trust.code, .rule: revocation.reason.rawValue],
                    details: Self.auditJSON(revocation))
            }
        }
    }
}

extension LocalNode {
    /// What ``rotateKeys(root:)`` did.
    package struct Rotation: Sendable {
        package var certificate: KeyCertificate
        /// Whether this process switched the keys (the node was not running); otherwise the
        /// running node switches on its next network round.
        package var adopted: Bool
    }

    /// Rotates the node's keys: makes new ones in `keys/next/` (0600), certifies them with the
    /// trust's root (serial above every one held), stores the certificate for gossip to carry,
    /// and — if the node is not running — switches to them now.
    /// - Throws: ``NodeError`` if the root is another trust's, or keys are already waiting.
    package func rotateKeys(root: inout TrustRoot) throws -> Rotation {
        guard root.trust == configuration.trust else {
            throw NodeError.configuration(
                path: root.directory, reason: "this root is \(root.trust)'s, the node is \(configuration.trust)'s")
        }
        let next = nextKeysDirectory
        let manager = FileManager.default
        guard !manager.fileExists(atPath: next + "/signing.key") else {
            throw NodeError.configuration(
                path: next,
                reason:
                    "new keys already wait for their certificate here: start the node, or remove the folder and rotate again"
            )
        }
        try manager.createDirectory(
            atPath: next, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let signing = SigningKey()
        let agreement = AgreementKey()
        try signing.write(to: next + "/signing.key")
        try agreement.write(to: next + "/agreement.key")
        let held = try store.network.statements().state.certificates.filter { $0.trust == configuration.trust }
        let certificate = try root.certify(
            signing: signing.verifyingKey, agreement: agreement.publicKey, after: held.map(\.serial).max() ?? 0)
        try store.network.add(NetworkDirectory.State(certificates: [certificate]))
        // Not running: switch now (the lock is free); running: its next network round switches.
        guard let lock = try? DataFolderLock(directory: directory) else {
            return Rotation(certificate: certificate, adopted: false)
        }
        defer { withExtendedLifetime(lock) {} }
        let adopted = try adoptCertifiedKeys([certificate], actor: Self.localOperator) != nil
        return Rotation(certificate: certificate, adopted: adopted)
    }
}

extension LocalNode {
    /// Stores signed network statements (not checked here: the running node's directory checks
    /// each one before believing it).
    /// - Returns: How many were new.
    @discardableResult
    package func addNetworkStatements(_ state: NetworkDirectory.State) throws -> Int { try store.network.add(state) }

    /// Every network statement this node holds.
    package func networkStatements() throws -> NetworkDirectory.State { try store.network.statements().state }
}
