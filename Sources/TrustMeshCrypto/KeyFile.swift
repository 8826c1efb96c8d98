internal import CSodium

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Reads and writes the secret-key files of ``SigningKey`` and ``AgreementKey``.
///
/// Format (binary, `6 + n` bytes): the ASCII magic `TMSK`, a format version byte (1), a kind byte, then the `n`
/// secret bytes (kind 1: the 32-byte Ed25519 seed; kind 2: the 32-byte X25519 secret key).
///
/// Files are created with mode 0600 and `O_EXCL`, so an existing key is never overwritten, and are refused on read
/// if group or others have any permission.
enum KeyFile {
    enum Kind: UInt8 {
        case ed25519Seed = 1
        case x25519SecretKey = 2

        var name: String {
            switch self {
            case .ed25519Seed: "Ed25519 signing key"
            case .x25519SecretKey: "X25519 agreement key"
            }
        }
    }

    private static let magic: [UInt8] = Array("TMSK".utf8)
    private static let version: UInt8 = 1
    private static var headerCount: Int { magic.count + 2 }

    /// Writes `secret` to a new file at `path`, mode 0600, and syncs it to disk.
    static func write(_ secret: SecretBytes, kind: Kind, to path: String) throws(CryptoError) {
        let contents = SecretBytes(count: headerCount + secret.count) { buffer in
            buffer.copyBytes(from: magic)
            buffer[magic.count] = version
            buffer[magic.count + 1] = kind.rawValue
            secret.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[headerCount...]).copyMemory(from: source)
            }
        }

        // O_EXCL: "If O_CREAT and O_EXCL are set, open() shall fail if the file exists" (POSIX open(2)), so an
        // existing key is never replaced and a symlink planted at `path` is not followed.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(0o600))
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST {
                throw .keyFile(path: path, reason: "already exists; refusing to overwrite a key file")
            }
            throw .keyFile(path: path, reason: "cannot create: \(errorText(code))")
        }
        do throws(CryptoError) {
            // The umask can only clear bits; set 0600 exactly in case it also cleared the owner's.
            guard fchmod(fd, mode_t(0o600)) == 0 else {
                throw CryptoError.keyFile(path: path, reason: "cannot set mode 0600: \(errorText(errno))")
            }
            try contents.withUnsafeBytes { bytes throws(CryptoError) in
                var offset = 0
                while offset < bytes.count {
                    let written = posixWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        let code = errno
                        if code == EINTR { continue }
                        throw .keyFile(path: path, reason: "cannot write: \(errorText(code))")
                    }
                    offset += written
                }
            }
            guard fsync(fd) == 0 else {
                throw CryptoError.keyFile(path: path, reason: "cannot fsync: \(errorText(errno))")
            }
            let closed = close(fd)
            guard closed == 0 else {
                let code = errno
                unlink(path)
                throw CryptoError.keyFile(path: path, reason: "cannot close: \(errorText(code))")
            }
        } catch {
            close(fd)
            // We created the file (O_EXCL), so removing a partial one cannot destroy anyone else's key.
            unlink(path)
            throw error
        }
        syncParentDirectory(of: path)
    }

    /// Reads a key file of `kind` holding `secretCount` secret bytes.
    static func read(kind: Kind, secretCount: Int, from path: String) throws(CryptoError) -> SecretBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .keyFile(path: path, reason: "cannot open: \(errorText(errno))")
        }
        defer { close(fd) }

        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw .keyFile(path: path, reason: "cannot stat: \(errorText(errno))")
        }
        guard status.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else {
            throw .keyFile(path: path, reason: "not a regular file")
        }
        let permissions = status.st_mode & mode_t(0o777)
        guard permissions & mode_t(0o077) == 0 else {
            throw .keyFile(
                path: path,
                reason: "mode \(octal(permissions)) lets group or others access it; run chmod 600 \(path)")
        }
        let expectedCount = headerCount + secretCount
        guard Int(status.st_size) == expectedCount else {
            throw .keyFile(
                path: path,
                reason: "unexpected size \(status.st_size) bytes; an \(kind.name) file has \(expectedCount)")
        }

        let contents = try SecretBytes(count: expectedCount) { buffer throws(CryptoError) in
            var offset = 0
            while offset < buffer.count {
                let count = posixRead(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw .keyFile(path: path, reason: "cannot read: \(errorText(code))")
                }
                if count == 0 {
                    throw .keyFile(path: path, reason: "file shrank while being read")
                }
                offset += count
            }
        }

        return try contents.withUnsafeBytes { bytes throws(CryptoError) in
            guard bytes.prefix(magic.count).elementsEqual(magic), bytes[magic.count] == version else {
                throw .keyFile(path: path, reason: "not a TrustMesh key file (bad magic or version)")
            }
            guard bytes[magic.count + 1] == kind.rawValue else {
                throw .keyFile(path: path, reason: "not an \(kind.name) file")
            }
            return SecretBytes(count: secretCount) { secret in
                secret.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[headerCount...]))
            }
        }
    }

    /// Makes the new directory entry durable too. Best effort: the key itself is already synced.
    private static func syncParentDirectory(of path: String) {
        let directory: String
        if let slash = path.lastIndex(of: "/") {
            directory = slash == path.startIndex ? "/" : String(path[..<slash])
        } else {
            directory = "."
        }
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

// `write` and `read` are shadowed inside KeyFile by its own static methods.
@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

@inline(__always)
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
