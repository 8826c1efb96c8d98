import Glibc

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
    /// - Parameter source: the local address to connect from: any of 127.0.0.0/8 on Linux, so a test
    ///   can be two clients at two addresses (e.g. `127.0.0.2`).
    public static func connect(port: Int, from source: String? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandRunnerError(message: "socket() failed") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                close(fd)
                throw CommandRunnerError(message: "cannot bind to \(source): errno \(errno)")
            }
        }
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
