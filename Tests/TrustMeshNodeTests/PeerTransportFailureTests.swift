import AsyncHTTPClient
import Glibc
import NIOCore
import Testing
import TrustMeshPeer
import TrustMeshTesting

/// Transport failures are told apart by the errors' types, from real sockets on loopback.
@Suite(.timeLimit(.minutes(1))) struct PeerTransportFailureTests {
    static func client() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(3), read: .seconds(1))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    static func failure(_ url: String) async throws -> (any Error)? {
        let http = client()
        defer { _ = http.shutdown() }
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return nil
        } catch {
            return error
        }
    }

    @Test func nothingListeningIsUnreachable() async throws {
        let port = try #require(try FreePorts.allocate(1).first)
        let error = try #require(try await Self.failure("http://127.0.0.1:\(port)/"))
        #expect(PeerTransportFailure(error) == .unreachable)
    }

    @Test func aPeerThatAcceptsAndSaysNothingTimesOut() async throws {
        let port = try #require(try FreePorts.allocate(1).first)
        let listener = try Loopback.listen(port: port)
        defer { close(listener) }
        let error = try #require(try await Self.failure("http://127.0.0.1:\(port)/"))
        #expect(PeerTransportFailure(error) == .timedOut)
    }

    @Test func otherErrorsAreNotTransportFailures() {
        struct Unrelated: Error {}
        #expect(PeerTransportFailure(Unrelated()) == nil)
        #expect(PeerTransportFailure(HTTPClientError.invalidURL) == nil)
    }
}
