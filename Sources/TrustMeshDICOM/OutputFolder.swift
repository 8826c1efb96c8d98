import Glibc

/// A folder the node writes files into (an export, STOW-RS's parts, DIMSE's incoming instances),
/// held open by its descriptor. Every file and subfolder is created relative to that descriptor,
/// never by a path, without following a symbolic link (`O_NOFOLLOW`, `O_EXCL`), and only under a
/// name that is one plain component: a symlink planted in the folder, or a name such as `..`, can
/// never make the node write elsewhere (open(2), openat(2): "If the pathname given in pathname is
/// relative, then it is interpreted relative to the directory referred to by dirfd").
///
/// ```swift
/// let out = try OutputFolder(path: "/tmp/export", create: true)
/// let series = try out.subfolder("1.2.3")
/// let fd = try series.createFile("1.2.3.4.dcm.partial")
/// ```
package final class OutputFolder: Sendable {
    /// The folder's path, for messages.
    package let path: String
    /// Open with `O_DIRECTORY | O_NOFOLLOW` for the life of this object; closed in `deinit`.
    private let fd: Int32

    /// Opens a folder, creating it (and its parents, 0700) first when `create` is set. The folder
    /// itself must not be a symbolic link.
    /// - Throws: ``OutputFolderError``.
    package init(path: String, create: Bool = false) throws(OutputFolderError) {
        if create { try Self.makePath(path) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw OutputFolderError(path: path, operation: "open", errno: errno) }
        self.path = path
        self.fd = fd
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// A subfolder, created (0700) if missing; an existing entry that is a symbolic link or not a
    /// folder is refused.
    package func subfolder(_ name: String) throws(OutputFolderError) -> OutputFolder {
        try Self.checkName(name, in: path)
        if mkdirat(fd, name, 0o700) != 0 && errno != EEXIST {
            throw OutputFolderError(path: path + "/" + name, operation: "create the folder", errno: errno)
        }
        let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard child >= 0 else { throw OutputFolderError(path: path + "/" + name, operation: "open", errno: errno) }
        return OutputFolder(path: path + "/" + name, fd: child)
    }

    /// Creates a new file for writing and returns its descriptor (the caller closes it). An
    /// existing entry of that name, a symbolic link included, is refused, never opened.
    package func createFile(_ name: String, mode: UInt32 = 0o600) throws(OutputFolderError) -> Int32 {
        try Self.checkName(name, in: path)
        let file = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard file >= 0 else { throw OutputFolderError(path: path + "/" + name, operation: "create", errno: errno) }
        return file
    }

    /// Gives a file its final name, refusing to replace anything already there (a link, then the
    /// temporary name removed: `rename` would replace an existing entry).
    package func publish(_ temporary: String, as name: String) throws(OutputFolderError) {
        try Self.checkName(temporary, in: path)
        try Self.checkName(name, in: path)
        guard linkat(fd, temporary, fd, name, 0) == 0 else {
            throw OutputFolderError(path: path + "/" + name, operation: "create", errno: errno)
        }
        unlinkat(fd, temporary, 0)
    }

    /// Removes a file of this folder (best effort).
    package func remove(_ name: String) {
        guard (try? Self.checkName(name, in: path)) != nil else { return }
        unlinkat(fd, name, 0)
    }

    /// Whether the folder has an entry of that name (a symbolic link counts, and is not followed).
    package func has(_ name: String) -> Bool {
        var status = stat()
        return fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// A name must be one component the node built: not empty, `.` or `..`, no `/` or NUL.
    private static func checkName(_ name: String, in path: String) throws(OutputFolderError) {
        guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(UInt8(ascii: "/")),
            !name.utf8.contains(0)
        else { throw OutputFolderError(path: path, operation: "name a file", errno: EINVAL) }
    }

    /// `mkdir -p`, each new folder 0700.
    private static func makePath(_ path: String) throws(OutputFolderError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw OutputFolderError(path: prefix, operation: "create the folder", errno: errno)
            }
            prefix += "/"
        }
    }
}

/// An output folder refused a file or could not create it.
package struct OutputFolderError: Error, CustomStringConvertible, Sendable {
    package let path: String
    package let operation: String
    package let errno: Int32

    package var description: String {
        switch errno {
        case ELOOP, ENOTDIR:
            "\(operation) \(path): it is a symbolic link or not a folder; refusing to follow it"
        case EEXIST: "\(path) already exists; refusing to overwrite it"
        case EINVAL where operation == "name a file": "refusing a file name under \(path) that is not one plain name"
        default: "\(operation) \(path): \(String(cString: strerror(errno)))"
        }
    }

    /// Whether the disk was full (`ENOSPC`, `EDQUOT`).
    package var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }
}
