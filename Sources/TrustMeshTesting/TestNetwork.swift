import Foundation
import Glibc
public import TrustMeshModel
import TrustMeshNode
import TrustMeshNodeCore

/// Addresses on 127.0.0.1 for tests that open sockets themselves.
public enum Loopback {
    /// Calls `body` with 127.0.0.1:`port` as a `sockaddr` and its length (for `bind`, `connect`).
    static func address<R>(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A TCP socket connected to 127.0.0.1:`port`; the caller closes it.
    public static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandRunnerError(message: "socket() failed") }
        guard address(port: port, { Glibc.connect(fd, $0, $1) }) == 0 else {
            close(fd)
            throw CommandRunnerError(message: "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        return fd
    }

    /// A socket listening on 127.0.0.1:`port`, holding the address as another program would; the
    /// caller closes it.
    public static func listen(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandRunnerError(message: "socket() failed") }
        guard address(port: port, { bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 1) == 0 else {
            close(fd)
            throw CommandRunnerError(message: "cannot listen on 127.0.0.1:\(port): errno \(errno)")
        }
        return fd
    }
}

/// Free TCP ports on 127.0.0.1, found by binding port 0 and reading what the kernel chose.
public enum FreePorts {
    public static func allocate(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw CommandRunnerError(message: "socket() failed") }
            sockets.append(fd)
            guard Loopback.address(port: 0, { bind(fd, $0, $1) }) == 0 else {
                throw CommandRunnerError(message: "bind() failed")
            }
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

/// A process running in the background (a `trustmesh` node, or a peer such as dcmtk's
/// `storescp`), stopped when released.
public final class BackgroundProcess: @unchecked Sendable {
    // Process is not Sendable; this wrapper only starts, signals and waits on it.
    private let process = Process()
    public let logPath: String
    /// SIGTERM for nodes; SIGKILL for peers that ignore it (dcmtk's `storescp`).
    private let stopSignal: Int32

    public init(
        _ arguments: [String], logPath: String, environment: [String: String] = [:],
        executable: String = CommandRunner.trustmeshPath, killHard: Bool = false
    ) throws {
        self.logPath = logPath
        stopSignal = killHard ? SIGKILL : SIGTERM
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }

    /// Sends SIGTERM (or the signal given at start) and waits for the exit; returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, stopSignal)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    /// What the process has written so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit { stop() }
}

/// A network of real node processes on loopback, made from a generated topology.
public final class TestNetwork: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let topology: Topology
    public let topologyPath: String
    private var processes: [TrustID: BackgroundProcess] = [:]
    private let lock = NSLock()
    private let intervalMs: Int

    /// Creates (but does not start) nodes for the given ODS codes, each on a free port.
    /// - Parameter names: trust names by ODS code, for the topology (default "Test trust RRK").
    public init(trusts: [String], names: [String: String] = [:], intervalMs: Int = 100) throws {
        directory = try TemporaryDirectory(prefix: "trustmesh-net")
        self.intervalMs = intervalMs
        let ports = try FreePorts.allocate(trusts.count)
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

    public func url(_ code: String) -> String {
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
        let run = ["node", "run", "--topology", topologyPath, "--interval-ms", "\(intervalMs)"] + arguments
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

/// Polls `condition` until it is true or the deadline passes (then throws). The pause between polls
/// only spaces the attempts; nothing waits for a fixed time in place of a condition.
public func poll(
    _ what: String, deadline: Duration, every pause: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: deadline)
    while clock.now < end {
        if try await condition() { return }
        try await Task.sleep(for: pause)
    }
    throw CommandRunnerError(message: "timed out after \(deadline) waiting for \(what)")
}
