import Foundation
public import TrustMeshModel

/// A runnable network on this machine, made from a topology template: one node folder per trust
/// with fresh keys, and the topology with those public keys filled in, which every node loads.
public enum LocalNetwork {
    /// Creates `directory/<ODS>/` for each trust (see ``LocalNode/create(directory:trust:name:)``) and
    /// `directory/topology.json`.
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
        if FileManager.default.fileExists(atPath: path) { throw NodeError.alreadyInitialised(directory: directory) }
        for index in topology.trusts.indices {
            let trust = topology.trusts[index]
            let node = try LocalNode.create(
                directory: directory + "/" + trust.ods.code, trust: trust.ods, name: trust.name)
            topology.trusts[index].signingKey = node.configuration.signingPublicKey
            topology.trusts[index].agreementKey = node.configuration.agreementPublicKey
        }
        try write(topology, to: path)
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

    /// What is wrong with a topology file, by field, in words.
    static func reason(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ last: (any CodingKey)? = nil) -> String {
            (context.codingPath + (last.map { [$0] } ?? [])).map { $0.intValue.map(String.init) ?? $0.stringValue }
                .joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "not a topology: \"\(path(context, key))\" is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "not a topology: \"\(path(context))\" has the wrong type"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "not valid JSON" + (context.underlyingError.map { " (\($0))" } ?? "")
        case .dataCorrupted(let context):
            return "not a topology: \"\(path(context))\" is malformed: \(context.debugDescription)"
        @unknown default:
            return "not a topology: \(error)"
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
