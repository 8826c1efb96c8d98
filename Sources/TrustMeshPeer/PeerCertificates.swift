package import Foundation
package import TrustMeshModel

/// How a node's key certificate travels with its peer traffic, so that a peer re-pins a rotated
/// key from the certificate itself on first contact instead of waiting for gossip to bring it:
/// the `TrustMesh-Certificate` header (base64 of the certificate's JSON) on every handshake, on
/// every handshake answer, and on every answer while the certificate is recent (the node rotated
/// within the overlap, so a session made before may not know the key yet).
///
/// A receiver believes nothing from the header itself: it hands the certificate to its network
/// directory (``learn``), which takes it in only if the trust's root in the current membership
/// signed it, then checks the request or answer signature against the keys it holds.
package struct PeerCertificates: Sendable {
    /// The header's name.
    package static let header = "TrustMesh-Certificate"
    /// Largest header value read (a certificate is about 600 bytes of base64).
    package static let maximumLength = 4096
    /// How long after its start a certificate rides on every answer, not only on handshakes.
    package static let recent: TimeInterval = 1_200

    /// This node's certificate for its current signing key, if it runs under signed membership.
    package var current: @Sendable () -> KeyCertificate?
    /// Hands a peer's certificate to the network directory (which checks it).
    package var learn: @Sendable (KeyCertificate) -> Void

    /// - Parameters:
    ///   - current: this node's certificate for its current signing key (nil: none).
    ///   - learn: takes in a peer's certificate (it is checked there).
    package init(
        current: @escaping @Sendable () -> KeyCertificate? = { nil },
        learn: @escaping @Sendable (KeyCertificate) -> Void = { _ in }
    ) {
        self.current = current
        self.learn = learn
    }

    /// No certificates: a network of pinned keys.
    package static let none = PeerCertificates()

    /// The header value for this node's certificate; nil if it has none, or (`onlyIfRecent`) if it
    /// did not start within ``recent``.
    package func headerValue(onlyIfRecent: Bool = false, now: Date = Date()) -> String? {
        guard let certificate = current() else { return nil }
        if onlyIfRecent {
            guard let start = Timestamp.date(certificate.notBefore), now.timeIntervalSince(start) < Self.recent else {
                return nil
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(certificate)).map { $0.base64EncodedString() }
    }

    /// Takes in the certificate a message's headers carry, if any and well formed.
    /// - Returns: Whether there was one (the caller then reads the sender's keys afresh).
    @discardableResult
    package func learn(from headers: [String: String]) -> Bool {
        guard
            let value = headers[Self.header] ?? headers[Self.header.lowercased()]
                ?? headers.first(where: { $0.key.lowercased() == Self.header.lowercased() })?.value,
            value.utf8.count <= Self.maximumLength, let data = Data(base64Encoded: value),
            let certificate = try? JSONDecoder().decode(KeyCertificate.self, from: data)
        else { return false }
        learn(certificate)
        return true
    }
}
