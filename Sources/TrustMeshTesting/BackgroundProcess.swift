import Foundation
import Glibc

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
