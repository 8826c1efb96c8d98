import AsyncHTTPClient
import Glibc
import NIOCore
import NIOPosix

/// Why a call to a peer got no answer, classified once from the HTTP client's and the socket's
/// error types (not from their messages), for the words a clinician is shown.
package enum PeerTransportFailure: Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens at the peer's address (connection refused).
    case unreachable
    /// The peer closed or reset the connection part way.
    case closed
    /// The peer did not answer in time (connect, read or the whole request).
    case timedOut

    /// The failure `error` is, or nil when it is not a transport failure.
    package init?(_ error: any Error) {
        if let error = error as? HTTPClientError {
            switch error {
            case .remoteConnectionClosed: self = .closed
            case .deadlineExceeded, .readTimeout, .connectTimeout: self = .timedOut
            default: return nil
            }
        } else if let error = error as? IOError {
            guard let failure = Self(errno: error.errnoCode) else { return nil }
            self = failure
        } else if let error = error as? NIOConnectionError {
            let codes = error.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }
            guard let failure = codes.lazy.compactMap(Self.init(errno:)).first else { return nil }
            self = failure
        } else if let error = error as? ChannelError, case .connectTimeout = error {
            self = .timedOut
        } else {
            return nil
        }
    }

    private init?(errno code: Int32) {
        switch code {
        case ECONNREFUSED: self = .unreachable
        case ECONNRESET, EPIPE: self = .closed
        case ETIMEDOUT: self = .timedOut
        default: return nil
        }
    }

    package var description: String {
        switch self {
        case .unreachable: "it no longer answers"
        case .closed: "it closed the connection"
        case .timedOut: "it did not answer in time"
        }
    }
}
