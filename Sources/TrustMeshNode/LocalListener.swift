import Foundation
import TrustMeshModel

/// Where the trust's own people and systems reach the node: the page, the JSON API, DICOMweb, FHIR,
/// metrics (and the DICOM listener's host). Separate from the peer listener at the topology
/// address, which serves only the peer protocol.
public struct LocalListener: Sendable, Hashable {
    /// The address to bind, e.g. `127.0.0.1`.
    public var host: String
    /// The port to bind, 1–65535.
    public var port: Int
    /// The base URL the trust's people and systems use (no trailing slash), e.g.
    /// `https://trustmesh.rkb.nhs.uk`: every absolute link the node writes (DICOMweb's RetrieveURL,
    /// FHIR's self link, the sign-in callback) is built from it, never from the request.
    public var publicURL: String

    /// `host:port`, as bound.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// - Parameter publicURL: nil: `http://HOST:PORT`.
    /// - Throws: ``ModelError/topology(_:)`` naming what is wrong.
    public init(host: String, port: Int, publicURL: String? = nil) throws {
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else {
            throw ModelError.topology("the local address needs a host, e.g. 127.0.0.1:8401")
        }
        guard (1...65535).contains(port) else {
            throw ModelError.topology("the local port must be 1–65535 (got \(port))")
        }
        self.host = host
        self.port = port
        let base = publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme),
            url.host != nil, url.query == nil, url.fragment == nil
        else {
            throw ModelError.topology("the public URL must be http(s)://HOST[:PORT][/PATH] (got \(base))")
        }
        self.publicURL = base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// `HOST:PORT` as typed (`--local-address`).
    public init(address: String, publicURL: String? = nil) throws {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ModelError.topology("the local address must be HOST:PORT, e.g. 127.0.0.1:8401 (got \(address))")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        try self.init(host: host, port: port, publicURL: publicURL)
    }

    /// The default: loopback, the peer listener's port + 1000 (e.g. 7401 → 8401).
    public static func `default`(peerAddress: String) throws -> LocalListener {
        guard let colon = peerAddress.lastIndex(of: ":"),
            let port = Int(peerAddress[peerAddress.index(after: colon)...]),
            port + 1000 <= 65535
        else {
            throw ModelError.topology(
                "no default local address for peer address \(peerAddress): give --local-address HOST:PORT")
        }
        return try LocalListener(host: "127.0.0.1", port: port + 1000)
    }
}
