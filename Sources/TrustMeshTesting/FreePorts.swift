import Foundation
import Glibc
import Synchronization

/// Free TCP ports on 127.0.0.1 for the nodes and peers a test starts.
///
/// Taken below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999
/// by default): a port the kernel had chosen by binding port 0 could be given, between this call and
/// the node's bind, to one of the thousands of outgoing connections other tests make at the same
/// time as their source port, and the node would fail to listen ("the address is in use"). Ports
/// are handed out in turn from a random start, each checked free by binding it, so no two calls in
/// one test process get the same port.
public enum FreePorts {
    private static let range: Range<Int> = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let ephemeralStart =
            text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            .first.flatMap { Int($0) } ?? 32768
        return 15000..<max(ephemeralStart, 20000)
    }()
    private static let next = Mutex(Int.random(in: range))

    public static func allocate(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        var ports: [Int] = []
        var tried = 0
        while ports.count < count {
            guard tried < range.count else {
                throw CommandRunnerError(message: "no free port below the ephemeral range")
            }
            tried += 1
            let port = next.withLock { next in
                defer { next = next + 1 == range.upperBound ? range.lowerBound : next + 1 }
                return next
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw CommandRunnerError(message: "socket() failed") }
            guard Loopback.address(port: port, { bind(fd, $0, $1) }) == 0 else {
                close(fd)  // in use (or lingering): try the next
                continue
            }
            sockets.append(fd)
            ports.append(port)
        }
        return ports
    }
}
