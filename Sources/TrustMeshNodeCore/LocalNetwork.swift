import Foundation
import TrustMeshCrypto
public import TrustMeshModel
public import TrustMeshPolicy

/// A runnable network on this machine, made from a topology template: one node folder per trust
/// with fresh keys, the topology with those public keys filled in, and the network policy, which
/// every node loads.
public enum LocalNetwork {
    /// Creates `directory/<ODS>/` for each trust (see ``LocalNode/create(directory:trust:name:)``),
    /// a root key per trust in `directory/roots/<ODS>/` (a demonstration's convenience: a real
    /// trust keeps its root off the node), `directory/network.json` (membership version 1, signed
    /// by every root, threshold a majority, and each node's key certificate),
    /// `directory/topology.json`, and `directory/policy.json` with the default ``NetworkPolicy``.
    /// - Parameters:
    ///   - template: the trusts, addresses and names (keys, if any, are replaced).
    ///   - only: a subset of trusts to create (nil: all).
    ///   - basePort: if given, trusts listen on 127.0.0.1 from this port upwards, in order.
    /// - Returns: the topology written, with keys.
    /// - Throws: if `directory` already holds a network or a node, or the template is invalid.
    @discardableResult
    public static func create(
        template: Topology, directory: String, only: [TrustID]? = nil, basePort: Int? = nil
    ) throws -> Topology {
        var trusts = template.trusts
        if let only {
            let unknown = only.filter { id in !trusts.contains { $0.ods == id } }
            guard unknown.isEmpty else {
                throw ModelError.topology("not in the topology: \(unknown.map(\.code).joined(separator: ", "))")
            }
            trusts = trusts.filter { only.contains($0.ods) }
        }
        if let basePort {
            for index in trusts.indices { trusts[index].address = "127.0.0.1:\(basePort + index)" }
        }
        var topology = Topology(name: template.name, trusts: trusts)
        try topology.validate(requireKeys: false)
        let path = directory + "/topology.json"
        if FileManager.default.fileExists(atPath: path)
            || FileManager.default.fileExists(atPath: directory + "/policy.json")
        {
            throw NodeError.alreadyInitialised(directory: directory)
        }
        var roots: [TrustRoot] = []
        var certificates: [KeyCertificate] = []
        for index in topology.trusts.indices {
            let trust = topology.trusts[index]
            let node = try LocalNode.create(
                directory: directory + "/" + trust.ods.code, trust: trust.ods, name: trust.name)
            topology.trusts[index].signingKey = node.configuration.signingPublicKey
            topology.trusts[index].agreementKey = node.configuration.agreementPublicKey
            // A demonstration keeps every root beside the nodes; a real trust keeps its root off
            // the node (`trustmesh keys root-init`, docs/ARCHITECTURE.md "Keys and membership").
            var root = try TrustRoot.create(directory: directory + "/roots/" + trust.ods.code, trust: trust.ods)
            certificates.append(
                try root.certify(
                    signing: node.configuration.signingPublicKey, agreement: node.configuration.agreementPublicKey))
            roots.append(root)
        }
        let policy = NetworkPolicy()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let membership = Membership(
            network: topology.name, version: 1, threshold: topology.trusts.count / 2 + 1,
            members: zip(topology.trusts, roots).map { trust, root in
                Membership.Member(ods: trust.ods, name: trust.name, address: trust.address, root: root.key.verifyingKey)
            },
            policy: String(decoding: try encoder.encode(policy), as: UTF8.self), issuedAt: Timestamp.text(Date()))
        var signed = SignedMembership(membership)
        for root in roots { signed.sign(as: root.trust, root: root.key) }
        try LocalNode.writeNetworkState(
            NetworkDirectory.State(memberships: [signed], certificates: certificates), to: directory + "/network.json")
        try write(topology, to: path)
        try writePolicy(policy, to: directory + "/policy.json")
        return topology
    }

    /// Reads a topology file.
    public static func read(_ path: String) throws -> Topology {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError.io(path: path, reason: "cannot read the topology file")
        }
        do {
            return try JSONDecoder().decode(Topology.self, from: data)
        } catch let error as ModelError {
            throw NodeError.configuration(path: path, reason: error.description)
        } catch let error as DecodingError {
            throw NodeError.configuration(path: path, reason: Self.reason(error))
        } catch {
            throw NodeError.configuration(path: path, reason: "not a topology: \(error)")
        }
    }

    /// The network policy file beside a topology file: `policy.json` in the same folder.
    /// - Parameter topologyPath: The topology file's path.
    /// - Returns: The policy file's path (which may not exist).
    public static func policyPath(besideTopology topologyPath: String) -> String {
        (URL(fileURLWithPath: topologyPath).deletingLastPathComponent().path) + "/policy.json"
    }

    /// The network file a node runs with: the one named (`--network`), else `network.json` beside
    /// the topology if there is one, else none (the topology's pinned keys).
    /// - Throws: ``NodeError/io(path:reason:)`` if a named file does not exist.
    public static func networkFile(_ path: String?, besideTopology topologyPath: String?) throws -> String? {
        if let path {
            guard FileManager.default.fileExists(atPath: path) else {
                throw NodeError.io(path: path, reason: "no such network file")
            }
            return path
        }
        guard let topologyPath else { return nil }
        let beside = URL(fileURLWithPath: topologyPath).deletingLastPathComponent().path + "/network.json"
        return FileManager.default.fileExists(atPath: beside) ? beside : nil
    }

    /// The members of the newest membership version in a network file, as a topology without keys.
    /// - Throws: if the file cannot be read or holds no membership document.
    public static func membershipTopology(_ file: String) throws -> Topology {
        let state = try LocalNode.readNetworkState(file)
        guard let newest = state.memberships.max(by: { $0.membership.version < $1.membership.version }) else {
            throw NodeError.configuration(path: file, reason: "the network file holds no membership document")
        }
        return newest.membership.topology
    }

    /// The network policy a node or the replay applies: the file given, else `policy.json` beside
    /// the topology if there is one, else the defaults.
    /// - Parameters:
    ///   - path: A policy file named on the command line (`--policy`); it must exist.
    ///   - topologyPath: The topology file, beside which `policy.json` is looked for.
    /// - Returns: The policy, and the file it came from (`nil` for the defaults).
    /// - Throws: ``NodeError`` naming the file and the field when the file cannot be read or is
    ///   malformed.
    public static func policy(_ path: String?, besideTopology topologyPath: String) throws -> (
        policy: NetworkPolicy, path: String?
    ) {
        if let path { return (try readPolicy(path), path) }
        let beside = policyPath(besideTopology: topologyPath)
        guard FileManager.default.fileExists(atPath: beside) else { return (NetworkPolicy(), nil) }
        return (try readPolicy(beside), beside)
    }

    /// Reads a network policy file (its form is documented on ``NetworkPolicy``).
    /// - Throws: ``NodeError`` naming the file and, for a malformed file, the field and what is wrong.
    public static func readPolicy(_ path: String) throws -> NetworkPolicy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError.io(path: path, reason: "cannot read the network policy file")
        }
        do {
            return try JSONDecoder().decode(NetworkPolicy.self, from: data)
        } catch let error as DecodingError {
            throw NodeError.configuration(path: path, reason: Self.reason(error, what: "a network policy"))
        } catch {
            throw NodeError.configuration(path: path, reason: "not a network policy: \(error)")
        }
    }

    /// Writes a network policy file (pretty, sorted keys), atomically.
    public static func writePolicy(_ policy: NetworkPolicy, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(policy).write(to: URL(fileURLWithPath: path), options: [.atomic])
        } catch {
            throw NodeError.io(path: path, reason: "cannot write the network policy: \(error.localizedDescription)")
        }
    }

    /// What is wrong with a topology (or policy) file, by field, in words.
    static func reason(_ error: DecodingError, what: String = "a topology") -> String {
        func path(_ context: DecodingError.Context, _ last: (any CodingKey)? = nil) -> String {
            (context.codingPath + (last.map { [$0] } ?? [])).map { $0.intValue.map(String.init) ?? $0.stringValue }
                .joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "not \(what): \"\(path(context, key))\" is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "not \(what): \"\(path(context))\" has the wrong type"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "not valid JSON" + (context.underlyingError.map { " (\($0))" } ?? "")
        case .dataCorrupted(let context):
            return "not \(what): \"\(path(context))\" is malformed: \(context.debugDescription)"
        @unknown default:
            return "not \(what): \(error)"
        }
    }

    /// Writes a topology file (pretty, sorted keys), atomically.
    public static func write(_ topology: Topology, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(topology).write(to: URL(fileURLWithPath: path), options: [.atomic])
        } catch {
            throw NodeError.io(path: path, reason: "cannot write the topology: \(error.localizedDescription)")
        }
    }
}
