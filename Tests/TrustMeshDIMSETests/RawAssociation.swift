import Foundation
import Glibc
import NIOCore
import TrustMeshDIMSE
import TrustMeshTesting

/// A blocking TCP client for writing arbitrary bytes to the node's DICOM port and reading the
/// PDUs it answers: what a misbehaving or malicious peer does, which no real toolkit will.
final class RawAssociation {
    private let fd: Int32

    /// Connects to 127.0.0.1:`port`; every read waits at most `timeout` seconds.
    init(port: Int, timeout: Int = 20) throws {
        fd = try Loopback.connect(port: port)
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    struct RawError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, 0) }
            guard sent > 0 else { throw RawError(message: "send failed: errno \(errno)") }
            offset += sent
        }
    }

    func send(_ pdu: PDU) throws {
        var buffer = ByteBuffer()
        pdu.encode(into: &buffer)
        try send(Array(buffer.readableBytesView))
    }

    /// Reads exactly `count` bytes; nil if the node closed the connection first.
    private func read(_ count: Int) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if got == 0 { return nil }
            guard got > 0 else { throw RawError(message: "no answer from the node in time (errno \(errno))") }
            offset += got
        }
        return bytes
    }

    /// The next PDU the node sends; nil if it closed the connection.
    func receive() throws -> PDU? {
        guard let header = try read(6) else { return nil }
        let length = Int(header[2]) << 24 | Int(header[3]) << 16 | Int(header[4]) << 8 | Int(header[5])
        guard let body = try read(length) else { return nil }
        return try PDU.decode(type: header[0], body: ByteBuffer(bytes: body))
    }

    /// True once the node has closed the connection (reads return end of file), after any PDUs.
    func closedByNode() throws -> Bool {
        while let _ = try receive() {}
        return true
    }

    /// Associates with the given abstract syntaxes (context IDs 1, 3, 5…), all in Explicit VR LE.
    @discardableResult
    func associate(calledAE: String, callingAE: String = "RAWSCU", abstractSyntaxes: [String]) throws -> AssociateAccept
    {
        let contexts = abstractSyntaxes.enumerated().map { index, syntax in
            PresentationContextProposal(
                id: UInt8(index * 2 + 1), abstractSyntax: syntax, transferSyntaxes: ["1.2.840.10008.1.2.1"])
        }
        try send(
            .associateRequest(
                AssociateRequest(
                    calledAETitle: calledAE, callingAETitle: callingAE, contexts: contexts,
                    user: UserInformation(maximumLength: 65536, implementationClassUID: "1.2.826.0.1.3680043.10.9"))))
        guard case .associateAccept(let accept) = try receive() else {
            throw RawError(message: "the association was not accepted")
        }
        return accept
    }
}
