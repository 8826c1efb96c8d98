import Glibc

/// A TCP client that sends exactly the bytes it is given and reports what the server does: what
/// a slow, half-finished or hostile client does, which no HTTP library will. Closed on deinit.
public final class RawConnection {
    private let fd: Int32

    /// Connects to 127.0.0.1:`port`, from `source` (a 127.0.0.0/8 address) when given.
    public init(port: Int, from source: String? = nil) throws {
        fd = try Loopback.connect(port: port, from: source)
    }

    deinit { close(fd) }

    /// Sends all of `bytes`; false when the server has closed or reset the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Sends up to `count` bytes of zeros without blocking; the number the kernel took (0 when its
    /// buffers are full or the connection is gone).
    public func sendWithoutWaiting(_ count: Int) -> Int {
        let bytes = [UInt8](repeating: 0, count: count)
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        return max(0, sent)
    }

    /// Reads what has arrived, without waiting; appends it to ``received``. Returns true once the
    /// server has closed (end of file) or reset the connection.
    public func drain() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if got > 0 {
                received += buffer[0..<got]
                continue
            }
            if got == 0 { return true }
            if errno == EINTR { continue }
            return errno != EAGAIN && errno != EWOULDBLOCK
        }
    }

    /// Everything read so far by ``drain()``.
    public private(set) var received: [UInt8] = []

    /// ``received`` as text.
    public var receivedText: String { String(decoding: received, as: UTF8.self) }
}

@available(*, unavailable)
extension RawConnection: Sendable {}
