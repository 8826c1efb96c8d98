import Glibc

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
