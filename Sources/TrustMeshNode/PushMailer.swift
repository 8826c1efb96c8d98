import Foundation
import Glibc
import Logging
import NIOPosix
import TrustMeshFetch
import TrustMeshModel

/// Where a node e-mails the notice of an emergency push it received (`node run --push-notify-email
/// ADDRESS --smtp HOST:PORT`): plain SMTP (RFC 5321) to a relay inside the trust, no TLS and no
/// login, every step bounded by a timeout.
public struct PushMailSettings: Sendable, Hashable {
    /// The relay's host name or address.
    public var host: String
    /// The relay's port.
    public var port: Int
    /// The address notices go to.
    public var to: String
    /// The sender address notices carry.
    public var from: String
    /// The most any one step (connecting, each reply) may take.
    public var timeout: Duration

    /// - Throws: ``NodeSettingError`` naming the option when an address is not `local@domain` (no
    ///   spaces, angle brackets or line breaks) or the port is out of range.
    public init(host: String, port: Int, to: String, from: String, timeout: Duration = .seconds(10)) throws {
        guard !host.isEmpty, (1...65535).contains(port) else {
            throw NodeSettingError(description: "--smtp \(host):\(port): give HOST:PORT with a port 1-65535")
        }
        for (option, address) in [("--push-notify-email", to), ("--push-notify-from", from)] {
            guard Self.isAddress(address) else {
                throw NodeSettingError(description: "\(option) '\(address.prefix(64))' is not an e-mail address")
            }
        }
        self.host = host
        self.port = port
        self.to = to
        self.from = from
        self.timeout = timeout
    }

    /// `local@domain`, printable ASCII without spaces, angle brackets or a second `@`.
    static func isAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && text.count <= 254
            && text.unicodeScalars.allSatisfy { $0.value > 32 && $0.value < 127 && $0 != "<" && $0 != ">" }
    }
}

/// A node setting given on the command line is not valid; the text names the option.
public struct NodeSettingError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Sends the e-mail of an emergency push: the study, the sending trust, the clinician it was pushed
/// to, the reason, who pushed it, whether it arrived and a link to the study page. No NHS number,
/// patient name or any key or token is written into it: mail leaves the node's control.
enum PushMailer {
    /// The message's subject and body for a notice.
    static func compose(_ notice: EmergencyPush.Notice, baseURL: String) -> (subject: String, body: String) {
        let grant = notice.grant
        let arrived = notice.fetch.state == .completed
        let subject =
            "TrustMesh emergency push from \(grant.holder) for \(grant.clinician)"
            + (arrived ? "" : " (not fetched)")
        var lines = [
            "\(grant.holder) pushed a study to \(grant.receiver) for \(grant.clinician) (emergency).",
            "",
            "Study: \(grant.studyUID)",
            "From trust: \(grant.holder)",
            "For clinician: \(grant.clinician)",
            "Pushed by: \(grant.pushedBy.name) at \(grant.holder), \(grant.issued)",
            "Reason: \(grant.reason)",
            "Push: \(grant.id)",
            "",
        ]
        if arrived {
            lines.append("The study has arrived and is held here: \(baseURL)/study?uid=\(grant.studyUID)")
        } else {
            lines.append("The study could not be fetched: \(notice.fetch.error ?? "unknown failure").")
            lines.append("Ask \(grant.holder) to push it again.")
        }
        lines.append("")
        lines.append("Sign in to TrustMesh to see it; information governance reviews every push.")
        return (subject, lines.joined(separator: "\r\n"))
    }

    /// Sends `notice` to the settings' address, on a thread of NIO's blocking pool; a failure is
    /// logged (the push itself has landed either way).
    static func send(_ notice: EmergencyPush.Notice, settings: PushMailSettings, baseURL: String, logger: Logger) async
    {
        let (subject, body) = compose(notice, baseURL: baseURL)
        do {
            try await NIOThreadPool.singleton.runIfActive {
                try SMTPClient.send(settings: settings, subject: subject, body: body)
            }
            logger.info("push notice e-mailed", metadata: ["push": "\(notice.grant.id)", "to": "\(settings.to)"])
        } catch {
            logger.error(
                "push notice could not be e-mailed (the study is received all the same)",
                metadata: [
                    "push": "\(notice.grant.id)", "relay": "\(settings.host):\(settings.port)", "error": "\(error)",
                ])
        }
    }
}

/// A minimal SMTP client: one message, plain text, blocking sockets whose every read, write and
/// connect is bounded by the settings' timeout.
enum SMTPClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func send(settings: PushMailSettings, subject: String, body: String) throws {
        let socket = try connect(settings)
        defer { close(socket) }
        var reader = ReplyReader(socket: socket)
        try reader.expect(220, after: "connecting")
        try write(socket, "EHLO trustmesh\r\n")
        try reader.expect(250, after: "EHLO")
        try write(socket, "MAIL FROM:<\(settings.from)>\r\n")
        try reader.expect(250, after: "MAIL FROM")
        try write(socket, "RCPT TO:<\(settings.to)>\r\n")
        try reader.expect(250, after: "RCPT TO")
        try write(socket, "DATA\r\n")
        try reader.expect(354, after: "DATA")
        try write(socket, message(settings: settings, subject: subject, body: body))
        try reader.expect(250, after: "the message")
        try write(socket, "QUIT\r\n")
        _ = try? reader.reply()
    }

    /// The message with its headers, lines dot-stuffed, ended by `.` on a line of its own.
    static func message(settings: PushMailSettings, subject: String, body: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let headers = [
            "From: <\(settings.from)>", "To: <\(settings.to)>", "Subject: \(encodedHeader(subject))",
            "Date: \(formatter.string(from: Date()))", "Message-ID: <\(UUID().uuidString.lowercased())@trustmesh>",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
        ]
        let lines = body.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: false
        )
        .map { $0.hasPrefix(".") ? "." + $0 : String($0) }
        return (headers + [""] + lines).joined(separator: "\r\n") + "\r\n.\r\n"
    }

    /// A header value: as it is when printable ASCII, else an RFC 2047 encoded word; line breaks removed.
    static func encodedHeader(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if flat.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) { return flat }
        return "=?UTF-8?B?" + Data(flat.utf8).base64EncodedString() + "?="
    }

    private static func connect(_ settings: PushMailSettings) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(settings.host, "\(settings.port)", &hints, &found) == 0, let first = found else {
            throw Failure(description: "cannot resolve \(settings.host)")
        }
        defer { freeaddrinfo(found) }
        var next: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let info = next {
            next = info.pointee.ai_next
            let socket = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard socket >= 0 else { continue }
            let seconds = settings.timeout.components.seconds
            var limit = timeval(tv_sec: Int(seconds), tv_usec: 0)
            // On Linux SO_SNDTIMEO also bounds connect(2).
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return socket }
            lastError = errno
            close(socket)
        }
        throw Failure(
            description: "cannot connect to \(settings.host):\(settings.port): \(String(cString: strerror(lastError)))")
    }

    private static func write(_ socket: Int32, _ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else {
                throw Failure(description: "the relay stopped reading (\(String(cString: strerror(errno))))")
            }
            sent += n
        }
    }

    /// Reads replies line by line (a multi-line reply's lines are `NNN-`, its last `NNN `).
    struct ReplyReader {
        let socket: Int32
        var pending: [UInt8] = []

        mutating func line() throws -> String {
            while true {
                if let end = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<end], as: UTF8.self)
                    pending.removeFirst(end + 1)
                    return line.hasSuffix("\r") ? String(line.dropLast()) : line
                }
                guard pending.count < 4096 else { throw Failure(description: "the relay sent a reply line over 4 KiB") }
                var buffer = [UInt8](repeating: 0, count: 1024)
                let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                guard n > 0 else {
                    throw Failure(description: n == 0 ? "the relay closed the connection" : "no reply in time")
                }
                pending += buffer[..<n]
            }
        }

        mutating func reply() throws -> (Int, String) {
            while true {
                let text = try line()
                guard text.count >= 3, let code = Int(text.prefix(3)) else {
                    throw Failure(description: "the relay sent '\(text.prefix(80))', not an SMTP reply")
                }
                if text.count == 3 || text[text.index(text.startIndex, offsetBy: 3)] == " " { return (code, text) }
            }
        }

        mutating func expect(_ code: Int, after step: String) throws {
            let (got, text) = try reply()
            guard got == code else {
                throw Failure(description: "the relay answered \(step) with '\(text.prefix(120))' (expected \(code))")
            }
        }
    }
}
