import Foundation
import NIOCore
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshPeer
public import TrustMeshPolicy
import TrustMeshStore

/// The requester's opening message of a fetch (`POST /peer/v1/fetch/manifest`, inside the signed
/// envelope, encrypted in the session): which study, on what grounds, by whom, and the requester's half of the
/// per-transfer key exchange.
struct ManifestRequest: Codable, Sendable {
    var studyUID: String
    /// The care relationship the fetch is made under; absent for the fetch of an emergency push.
    var care: CareRelationship?
    /// For the fetch of an emergency push: the grant the holder itself signed, in place of a care
    /// relationship.
    var push: PushGrant? = nil
    var clinician: String
    /// The requester's crypto_kx public key for this transfer, base64.
    var transferKey: String
}

/// The holder's answer: the manifest, an id for the transfer, and its half of the key exchange.
struct ManifestResponse: Codable, Sendable {
    var transferID: String
    /// The holder's crypto_kx public key for this transfer, base64.
    var transferKey: String
    var manifest: TransferManifest
    /// The peer protocol version the manifest is written in (``PeerProtocol``); absent before
    /// version 2 (which changed the manifest's shape), so a requester can tell which it reads.
    var `protocol`: Int = PeerProtocol.version
}

extension ManifestResponse {
    private enum CodingKeys: String, CodingKey {
        case transferID, transferKey, manifest, `protocol`
    }

    /// Reads an answer; one with no `protocol` is version 1. The version is read first: what the
    /// rest means depends on it.
    /// - Throws: ``FetchError`` when it names a version this node does not speak, else what decoding throws.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        `protocol` = try ManifestVersion.check(container.decodeIfPresent(Int.self, forKey: .protocol))
        transferID = try container.decode(String.self, forKey: .transferID)
        transferKey = try container.decode(String.self, forKey: .transferKey)
        manifest = try container.decode(TransferManifest.self, forKey: .manifest)
    }
}

/// The protocol version a manifest names, checked against those this node speaks.
enum ManifestVersion {
    /// - Parameter version: what the manifest says; nil (no `protocol`) is version 1.
    /// - Throws: ``FetchError`` naming both versions when this node does not speak it.
    static func check(_ version: Int?) throws -> Int {
        let version = version ?? 1
        guard PeerProtocol.spoken.contains(version) else {
            throw FetchError(
                description: "the manifest is protocol \(version), this node speaks \(PeerProtocol.version)")
        }
        return version
    }
}

/// A batch of chunks asked for (`POST /peer/v1/fetch/chunks`).
struct ChunkBatchRequest: Codable, Sendable {
    var transferID: String
    var hashes: [Digest256]
}

/// How chunks travel in a batch response: for each chunk, its 32-byte hash, a 24-byte nonce, the
/// 4-byte big-endian length of the ciphertext, and the ciphertext: the stored zstd frame sealed
/// with XChaCha20-Poly1305 under the transfer's key (crypto_kx session key), with the transfer id
/// and the hash as associated data. The key came from a key exchange whose holder half was in the
/// signed manifest response, so a frame that opens came from the holder, for this transfer.
enum ChunkFrames {
    static func associatedData(transferID: String, hash: Digest256) -> [UInt8] {
        Array(transferID.utf8) + [0] + hash.rawBytes
    }

    /// Bytes a frame adds around its stored chunk.
    static let overhead = headerBytes + XChaCha20Poly1305.tagByteCount

    /// Appends a frame to `out`: `fill` writes the stored chunk (`storedCount` bytes) where its
    /// ciphertext goes, and it is sealed there, in place.
    static func append(
        hash: Digest256, storedCount: Int, transferID: String, key: SymmetricKey, to out: inout ByteBuffer,
        fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        let nonce = Random.bytes(XChaCha20Poly1305.nonceByteCount)
        let sealedCount = storedCount + XChaCha20Poly1305.tagByteCount
        out.writeBytes(hash.rawBytes)
        out.writeBytes(nonce)
        out.writeInteger(UInt32(sealedCount), endianness: .big)
        let ad = associatedData(transferID: transferID, hash: hash)
        try out.writeWithUnsafeMutableBytes(minimumWritableBytes: sealedCount) { space in
            let frame = UnsafeMutableRawBufferPointer(rebasing: space[..<sealedCount])
            let plain = UnsafeMutableRawBufferPointer(rebasing: frame[..<storedCount])
            try fill(plain)
            try XChaCha20Poly1305.seal(
                UnsafeRawBufferPointer(plain), key: key, nonce: nonce, associatedData: ad, into: frame)
            return sealedCount
        }
    }

    /// Bytes before a frame's ciphertext: hash, nonce, length.
    static let headerBytes = lengthOffset + 4
    /// Where a frame's nonce and ciphertext length start.
    static let nonceOffset = Digest256.byteCount
    static let lengthOffset = nonceOffset + XChaCha20Poly1305.nonceByteCount

    /// Longest ciphertext a frame may announce: more than any stored chunk (at most 1 MiB of
    /// plaintext, which zstd never expands by more than a few hundred bytes).
    static let maximumSealed = 2 << 20

    /// A frame's header: its chunk's hash and the length of the ciphertext that follows it.
    struct Header {
        var hash: Digest256
        var sealedCount: Int
        /// Bytes of the whole frame.
        var frameCount: Int { ChunkFrames.headerBytes + sealedCount }
    }

    /// Reads the header of the frame at the front of `bytes`, or nil if it has not all arrived.
    /// - Throws: ``FetchError`` when the header announces a frame longer than any chunk.
    static func header(_ bytes: UnsafeRawBufferPointer) throws -> Header? {
        guard bytes.count >= headerBytes else { return nil }
        let hash = try Digest256(rawBytes: Array(bytes[0..<nonceOffset]))
        let l = lengthOffset
        let length = Int(bytes[l]) << 24 | Int(bytes[l + 1]) << 16 | Int(bytes[l + 2]) << 8 | Int(bytes[l + 3])
        guard length <= maximumSealed else { throw FetchError.badBatch("a frame announces \(length) bytes") }
        return Header(hash: hash, sealedCount: length)
    }
}

/// Why a fetch failed, as the clinician is told.
public struct FetchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The policy rule that failed, here or at the holder, when one did.
    public var rule: ReportedRule?
    /// What kind of failure it is, for the screen.
    public var failure: FetchFailure

    init(description: String, rule: ReportedRule? = nil, failure: FetchFailure? = nil) {
        self.description = description
        self.rule = rule
        self.failure = failure ?? (rule == nil ? .other : .refused)
    }

    static func badBatch(_ reason: String) -> FetchError { FetchError(description: "malformed chunk batch: \(reason)") }
}

/// What kind of failure ended a fetch, so the page and the CLI can say what to do next without
/// reading the words of the error.
public enum FetchFailure: String, Codable, Sendable {
    /// A sharing rule refused it, here or at the holder (``FetchProgress/rule`` names it).
    case refused
    /// The holder did not answer, closed the connection or took too long; asking again resumes.
    case holderUnreachable
    /// No other trust (or not the one named) lists the study now.
    case notListed
    /// Anything else; the error's words say what.
    case other
}

/// The peer routes of a fetch (the holder serves them behind the peer door).
package enum FetchRoutes {
    package static let manifest = "/peer/v1/fetch/manifest"
    package static let chunks = "/peer/v1/fetch/chunks"
    /// An emergency push, holder to receiver (``EmergencyPush``).
    package static let push = "/peer/v1/push"
}
