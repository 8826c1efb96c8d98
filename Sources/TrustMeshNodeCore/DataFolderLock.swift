import Foundation
import Glibc

/// An exclusive `flock` on the data folder's `node.lock` while a node runs there, so a second
/// `node run` on the same folder stops at once with the first one's process id. (CLI commands
/// that take `--data` do not take it: they are meant to work beside a running node.) The kernel
/// drops the lock when the process ends, however it ends.
package final class DataFolderLock: Sendable {
    private let fd: Int32

    package init(directory: String) throws {
        let path = directory + "/node.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeError.io(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let pid = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw NodeError.alreadyRunning(directory: directory, pid: pid.isEmpty ? "unknown" : pid)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}
