public import TrustMeshModel

/// Which versions of the peer protocol this node speaks, and how a mismatch is told.
///
/// Version 1 was the protocol before it had a number: no `TrustMesh-Protocol` header, bodies
/// sealed to the receiver's static X25519 key. Version 2 carries the header on every request and
/// answer and encrypts under keys of a session made from ephemeral X25519 keys (``PeerSession``),
/// so a static key stolen later opens nothing recorded before. A node refuses a request in a
/// version it does not speak with ``PeerRefusal/Code/unsupportedProtocol``, before anything else
/// in it is read: what the rest of a request means depends on its version.
public enum PeerProtocol {
    /// The version this node sends.
    public static let version = 2

    /// Every version this node answers.
    public static let spoken: ClosedRange<Int> = 2...2

    /// The header every request and answer carries: the version, in decimal.
    public static let header = "TrustMesh-Protocol"

    /// The version a request's `TrustMesh-Protocol` header names, if this node speaks it.
    /// - Parameter text: the header's value, or nil when the request has none (protocol 1).
    /// - Returns: the version.
    /// - Throws: ``PeerRefusal`` ``PeerRefusal/Code/unsupportedProtocol``, naming both versions and
    ///   carrying this node's newest in ``PeerRefusal/protocolVersion``.
    public static func check(_ text: String?) throws(PeerRefusal) -> Int {
        guard let text, !text.isEmpty else {
            throw PeerRefusal(
                .unsupportedProtocol,
                "the request names no protocol version (\(header) is missing: protocol 1); "
                    + "this node speaks protocol \(spoken.upperBound)",
                protocolVersion: spoken.upperBound)
        }
        // Decimal digits only, at most six: anything else is not a version, and is not echoed whole.
        guard text.count <= 6, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let version = Int(text)
        else {
            throw PeerRefusal(
                .unsupportedProtocol,
                "the request's \(header) is not a version number; this node speaks protocol \(spoken.upperBound)",
                protocolVersion: spoken.upperBound)
        }
        guard spoken.contains(version) else {
            throw PeerRefusal(
                .unsupportedProtocol,
                "the request is protocol \(version); this node speaks protocol \(spoken.upperBound)",
                protocolVersion: spoken.upperBound)
        }
        return version
    }

    /// What a requester shows when `peer` refused its version: "RRK runs a newer TrustMesh:
    /// protocol 3, this node speaks 2" (or "an older TrustMesh" when the peer's is lower).
    /// - Parameters:
    ///   - peer: the trust that refused.
    ///   - theirs: the newest version the peer speaks (from its signed refusal); not `mine`.
    ///   - mine: the version this node sent.
    /// - Returns: the words, for logs, the fetch page and the command line.
    public static func mismatch(peer: TrustID, theirs: Int, mine: Int) -> String {
        "\(peer) runs \(theirs > mine ? "a newer" : "an older") TrustMesh: protocol \(theirs), this node speaks \(mine)"
    }
}
