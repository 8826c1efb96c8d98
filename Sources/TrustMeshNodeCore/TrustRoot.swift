public import Foundation
public import TrustMeshCrypto
public import TrustMeshModel

/// A trust's root key and what it has issued, in a folder meant to stay **off the node**
/// (removable media, or an offline machine): it certifies the node's keys (``KeyCertificate``),
/// revokes them, and signs membership documents. A node never needs it to run.
///
/// ```
/// ROOTDIR/root.key    Ed25519 secret key (0600)
/// ROOTDIR/root.json   {"trust", "rootKey", "lastSerial"}: the last certificate serial issued
/// ```
public struct TrustRoot: Sendable {
    struct Record: Codable {
        var trust: TrustID
        var rootKey: VerifyingKey
        var lastSerial: UInt64
    }

    public let directory: String
    public let trust: TrustID
    public let key: SigningKey
    /// The serial of the last certificate issued (0: none).
    public private(set) var lastSerial: UInt64

    /// How long a certificate is valid.
    public static let validity: TimeInterval = 365 * 86_400
    /// A certificate starts this long before it is issued, so that a peer whose clock is a little
    /// behind does not refuse the new keys.
    public static let backdating: TimeInterval = 300

    /// Makes a root key for `trust` in a new folder (0700; the key 0600).
    /// - Throws: ``NodeError/alreadyInitialised(directory:)`` if the folder holds a root.
    public static func create(directory: String, trust: TrustID) throws -> TrustRoot {
        let manager = FileManager.default
        guard !manager.fileExists(atPath: directory + "/root.key") else {
            throw NodeError.alreadyInitialised(directory: directory)
        }
        do {
            try manager.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw NodeError.io(path: directory, reason: "cannot create the root folder: \(error.localizedDescription)")
        }
        let key = SigningKey()
        try key.write(to: directory + "/root.key")
        let root = TrustRoot(directory: directory, trust: trust, key: key, lastSerial: 0)
        try root.save()
        return root
    }

    /// Reads a root folder.
    /// - Throws: ``NodeError`` naming the file that is missing or malformed.
    public init(directory: String) throws {
        let path = directory + "/root.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError.io(path: path, reason: "not a root folder (made by `trustmesh keys root-init`)")
        }
        let record: Record
        do { record = try JSONDecoder().decode(Record.self, from: data) } catch {
            throw NodeError.configuration(path: path, reason: "not a root record: \(error)")
        }
        let key = try SigningKey.read(from: directory + "/root.key")
        guard key.verifyingKey == record.rootKey else {
            throw NodeError.configuration(path: path, reason: "root.key is not the key root.json names")
        }
        self.init(directory: directory, trust: record.trust, key: key, lastSerial: record.lastSerial)
    }

    private init(directory: String, trust: TrustID, key: SigningKey, lastSerial: UInt64) {
        self.directory = directory
        self.trust = trust
        self.key = key
        self.lastSerial = lastSerial
    }

    /// Issues the next certificate for a node's public keys, and records its serial.
    /// - Parameter after: a serial already known to the network (from the node's store): the new
    ///   one is above both it and the last this folder issued.
    public mutating func certify(
        signing: VerifyingKey, agreement: AgreementPublicKey, after: UInt64 = 0, now: Date = Date()
    ) throws -> KeyCertificate {
        let serial = max(lastSerial, after) + 1
        let certificate = KeyCertificate.issue(
            trust: trust, serial: serial, signingKey: signing, agreementKey: agreement,
            notBefore: Timestamp.text(now - Self.backdating), notAfter: Timestamp.text(now + Self.validity), root: key)
        lastSerial = serial
        try save()
        return certificate
    }

    private func save() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = directory + "/root.json"
        do {
            try encoder.encode(Record(trust: trust, rootKey: key.verifyingKey, lastSerial: lastSerial)).write(
                to: URL(fileURLWithPath: path), options: [.atomic])
        } catch {
            throw NodeError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
