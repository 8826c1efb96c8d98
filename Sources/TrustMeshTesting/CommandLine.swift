import Foundation
import Glibc

/// The result of running a program to completion.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Peak resident memory of the program, in bytes, as GNU time reports it (0 if unmeasured).
    public var maxResidentBytes: Int
}

/// Runs real programs for tests: the built `trustmesh` and `trustmesh-bench`, and system tools.
public enum CommandRunner {
    /// The `trustmesh` executable built beside the test bundle (`TRUSTMESH_BIN` overrides it).
    public static var trustmeshPath: String { builtExecutable("trustmesh", override: "TRUSTMESH_BIN") }

    /// The `trustmesh-bench` executable (the measurements `Scripts/bench` runs) built beside the
    /// test bundle (`TRUSTMESH_BENCH_BIN` overrides it).
    public static var trustmeshBenchPath: String {
        builtExecutable("trustmesh-bench", override: "TRUSTMESH_BENCH_BIN")
    }

    private static func builtExecutable(_ name: String, override: String) -> String {
        if let path = ProcessInfo.processInfo.environment[override] { return path }
        // Tests run from .build/<config>/; the executables sit there too.
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<6 {
            let candidate = url.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate), !candidate.hasSuffix(".xctest/" + name) {
                return candidate
            }
            url.deleteLastPathComponent()
        }
        return ".build/debug/" + name
    }

    /// Whether this machine lets a test mount its own small filesystem (`unshare -Urm`: a user and
    /// mount namespace, no root needed), for full-disk tests.
    public static let canMountTmpfs: Bool = {
        guard let result = try? runBlocking("/usr/bin/unshare", ["-Urm", "mount", "-t", "tmpfs", "tmpfs", "/mnt"])
        else {
            return false
        }
        return result.status == 0
    }()

    /// Runs `trustmesh` with arguments.
    public static func trustmesh(_ arguments: [String], environment: [String: String]? = nil) async throws
        -> ProcessResult
    {
        try await run(trustmeshPath, arguments, environment: environment)
    }

    /// Runs `trustmesh-bench` with arguments.
    public static func trustmeshBench(_ arguments: [String]) async throws -> ProcessResult {
        try await run(trustmeshBenchPath, arguments)
    }

    /// Runs a program to completion, capturing its output and peak memory.
    ///
    /// The wait is on a thread of its own, never on one of Swift concurrency's cooperative threads:
    /// there are as many of those as cores (two here), and a test waiting out a program on one
    /// held up every other test running beside it, its polls included, until their deadlines
    /// passed unread (fresh-clone CI runs of the whole suite).
    public static func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil)
        async throws -> ProcessResult
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runBlocking(program, arguments, environment: environment) })
            }.start()
        }
    }

    /// ``run(_:_:environment:)``, waiting on the calling thread.
    ///
    /// The program runs under GNU time (`/usr/bin/time`, installed by Scripts/setup) for its peak
    /// RSS: the child's own rusage would not do, because Linux carries the spawning process's
    /// high-water mark across `posix_spawn`'s vfork and exec, so it would report the test runner.
    static func runBlocking(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws
        -> ProcessResult
    {
        let directory = try TemporaryDirectory(prefix: "trustmesh-run")
        let outPath = directory.appending("stdout")
        let errPath = directory.appending("stderr")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let timePath = directory.appending("time")
        let timed = FileManager.default.isExecutableFile(atPath: "/usr/bin/time")
        let command =
            timed ? ["/usr/bin/time", "-f", "%M", "-o", timePath, program] + arguments : [program] + arguments
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var env = ProcessInfo.processInfo.environment
        if let environment { env.merge(environment) { $1 } }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, command[0], &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw CommandRunnerError(message: "cannot start \(program): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw CommandRunnerError(message: "wait4 failed for \(program)") }
        }
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ProcessResult(
            status: exit,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            maxResidentBytes: 1024
                * (Int(
                    ((try? String(contentsOfFile: timePath, encoding: .utf8)) ?? "")
                        .split(separator: "\n").last.map(String.init) ?? "") ?? 0)
        )
    }
}

/// A program could not be run.
public struct CommandRunnerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}
