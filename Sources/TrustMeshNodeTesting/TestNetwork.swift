import Foundation
public import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore
public import TrustMeshTesting

/// A network of real node processes on loopback, made from a generated topology.
public final class TestNetwork: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let topology: Topology
    public let topologyPath: String
    private var processes: [TrustID: BackgroundProcess] = [:]
    /// Each node's local listener port (page, API, DICOMweb, FHIR, metrics).
    private let localPorts: [String: Int]
    private let lock = NSLock()
    private let intervalMs: Int

    /// Creates (but does not start) nodes for the given ODS codes, each with a free peer port and a
    /// free local port.
    /// - Parameter names: trust names by ODS code, for the topology (default "Test trust RRK").
    public init(trusts: [String], names: [String: String] = [:], intervalMs: Int = 100) throws {
        directory = try TemporaryDirectory(prefix: "trustmesh-net")
        self.intervalMs = intervalMs
        let allPorts = try FreePorts.allocate(trusts.count * 2)
        let ports = Array(allPorts.prefix(trusts.count))
        localPorts = Dictionary(uniqueKeysWithValues: zip(trusts, allPorts.suffix(trusts.count)))
        let template = Topology(
            name: "test network",
            trusts: try zip(trusts, ports).map { code, port in
                Topology.Trust(
                    ods: try TrustID(code), name: names[code] ?? "Test trust \(code)", address: "127.0.0.1:\(port)")
            })
        topology = try LocalNetwork.create(template: template, directory: directory.appending("net"))
        topologyPath = directory.appending("net/topology.json")
    }

    public func dataDirectory(_ code: String) -> String { directory.appending("net/" + code) }

    /// The node's local listener: the page, the JSON API, DICOMweb, FHIR, metrics.
    public func url(_ code: String) -> String { "http://" + localAddress(code) }

    /// `127.0.0.1:PORT` of the node's local listener.
    public func localAddress(_ code: String) -> String { "127.0.0.1:\(localPorts[code]!)" }

    /// The node's peer listener (the topology address): the peer protocol only.
    public func peerURL(_ code: String) -> String {
        "http://" + topology.trusts.first { $0.ods.code == code }!.address
    }

    /// Starts a node and waits (bounded) until its local API answers.
    /// - Parameter diskKB: run the node on a tmpfs of this size (a copy of its folder, in its own user
    ///   and mount namespace: `unshare -Urm`, see ``CommandRunner/canMountTmpfs``), for full-disk
    ///   tests. What it writes there is gone when it stops; check through its API.
    public func start(
        _ code: String, arguments: [String] = [], environment: [String: String] = [:],
        deadline: Duration = .seconds(30), diskKB: Int? = nil
    ) async throws {
        let run =
            [
                "node", "run", "--topology", topologyPath, "--interval-ms", "\(intervalMs)", "--local-address",
                localAddress(code),
            ] + arguments
        let process: BackgroundProcess
        if let diskKB {
            let disk = dataDirectory(code) + "-disk"
            try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
            let script = """
                mount -t tmpfs -o size=\(diskKB)k tmpfs "$1" && cp -a "$2/." "$1/" || exit 90
                disk="$1"; bin="$3"; shift 3
                exec "$bin" "$@" --data "$disk"
                """
            process = try BackgroundProcess(
                ["-Urm", "sh", "-c", script, "sh", disk, dataDirectory(code), CommandRunner.trustmeshPath] + run,
                logPath: directory.appending("\(code).log"), environment: environment, executable: "/usr/bin/unshare")
        } else {
            process = try BackgroundProcess(
                run + ["--data", dataDirectory(code)], logPath: directory.appending("\(code).log"),
                environment: environment)
        }
        lock.withLock { processes[try! TrustID(code)] = process }
        let url = url(code)
        try await poll("\(code) to listen", deadline: deadline) {
            guard process.isRunning else {
                throw CommandRunnerError(message: "\(code) exited during start:\n\(process.log)")
            }
            return (try? await LocalAPIClient.status(node: url)) != nil
        }
    }

    /// Stops a node with SIGTERM; returns its exit status.
    @discardableResult
    public func stop(_ code: String) -> Int32 {
        let process = lock.withLock { processes.removeValue(forKey: try! TrustID(code)) }
        return process?.stop() ?? -1
    }

    /// Waits for a node that is expected to exit by itself (fault injection); returns its status.
    public func waitForExit(_ code: String, deadline: Duration = .seconds(60)) async throws -> Int32 {
        guard let process = lock.withLock({ processes[try! TrustID(code)] }) else { return -1 }
        try await poll("\(code) to exit", deadline: deadline) { !process.isRunning }
        return lock.withLock { processes.removeValue(forKey: try! TrustID(code)) }?.stop() ?? -1
    }

    public func log(_ code: String) -> String {
        (try? String(contentsOfFile: directory.appending("\(code).log"), encoding: .utf8)) ?? ""
    }

    deinit {
        for process in processes.values { process.stop() }
    }
}
