import Foundation
import Glibc

/// Patient data at rest is the node's alone: its folders 0700, its files 0600.
extension LocalNode {
    /// Sets the process's umask to 077, so that every folder the node (or a command) creates is 0700
    /// and every file 0600, whatever the calling shell's umask. Called once at process start by the
    /// `trustmesh` entry point and again by `node run`.
    public static func protectNewFiles() {
        // umask(2): "always succeeds"; it returns the previous mask, which is not needed.
        umask(0o077)
    }

    /// Folders and files in the node's data folder that others could read, write or enter (any
    /// group or other permission bit): an upgraded node whose files were made before the umask.
    /// - Parameter limit: At most this many paths are returned (the count is still exact).
    /// - Returns: The count, and the first paths found, relative to the data folder.
    public func looseModes(limit: Int = 5) -> (count: Int, examples: [String]) {
        var count = 0
        var examples: [String] = []
        func check(_ path: String, relative: String) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            if (info.st_mode & S_IFMT) == S_IFLNK { return }
            if info.st_mode & 0o077 != 0 {
                count += 1
                if examples.count < limit { examples.append(relative.isEmpty ? "." : relative) }
            }
        }
        check(directory, relative: "")
        if let walker = FileManager.default.enumerator(atPath: directory) {
            while let relative = walker.nextObject() as? String {
                check(directory + "/" + relative, relative: relative)
            }
        }
        return (count, examples)
    }

    /// The command that makes every folder 0700 and every file 0600 in this node's data folder.
    public var fixModesCommand: String {
        "chmod -R go-rwx '\(directory.replacingOccurrences(of: "'", with: "'\\''"))'"
    }
}
