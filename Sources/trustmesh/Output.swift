import Foundation
import Glibc
import TrustMeshModel

/// Small helpers for what the commands print.
enum Output {
    /// `157.7 MB`, `512 KB`, `12 B` (SI units, as disk and network figures are quoted).
    static func bytes(_ count: Int) -> String {
        let value = Double(count)
        switch count {
        case ..<1000: return "\(count) B"
        case ..<1_000_000: return String(format: "%.1f KB", value / 1e3)
        case ..<1_000_000_000: return String(format: "%.1f MB", value / 1e6)
        default: return String(format: "%.2f GB", value / 1e9)
        }
    }

    /// A DICOM date (YYYYMMDD) as 2026-03-14.
    static func date(_ dicom: String?) -> String {
        guard let d = dicom, d.count == 8, d.allSatisfy(\.isNumber) else { return dicom ?? "—" }
        let c = Array(d)
        return String(c[0..<4]) + "-" + String(c[4..<6]) + "-" + String(c[6..<8])
    }

    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data(("error: " + message + "\n").utf8))
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Pads or truncates to a column width, always leaving at least one space before the next
    /// column ("prior-imaging c… " rather than "prior-imaging che…nhsNumber").
    static func column(_ text: String, _ width: Int) -> String {
        let fitted = text.count >= width ? String(text.prefix(width - 2)) + "…" : text
        return fitted.padding(toLength: width, withPad: " ", startingAt: 0)
    }
}

/// A one-line progress display on standard error, redrawn at most ten times a second, shown only
/// when standard error is a terminal.
final class ProgressLine: @unchecked Sendable {
    // Only touched from the callback's serial context (the ingest's consuming task), guarded anyway.
    private let lock = NSLock()
    private var lastDraw = Date.distantPast
    private let enabled = Output.stderrIsTerminal
    private let start = Date()

    func update(_ text: (TimeInterval) -> String, force: Bool = false) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let line = text(now.timeIntervalSince(start))
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// A refusal the user can act on: printed as `Error: <message>` without a usage banner, exit 1.
struct UserError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
