import Foundation

/// A fresh folder under the system's temporary directory, removed when the value is released.
///
/// Each test gets its own, so tests run in parallel without sharing files.
public final class TemporaryDirectory: Sendable {
    /// The folder's absolute path.
    public let path: String

    /// Creates the folder; `prefix` helps tell leftovers apart.
    public init(prefix: String = "trustmesh-test") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/" + prefix + "-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the folder.
    public func appending(_ component: String) -> String { path + "/" + component }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
