import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct GossipMessageTests {
    @Test func digestTravelsAsAnArrayOfEntriesSortedByOrigin() throws {
        let request = GossipRequest(from: Fixtures.rrk, digest: [Fixtures.rrk: 12, Fixtures.rq3: 4, Fixtures.rr8: 7])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(request), as: UTF8.self)
        #expect(
            json == #"{"digest":["RQ3:4","RR8:7","RRK:12"]}"#)
        let decoder = JSONDecoder()
        decoder.userInfo[GossipRequest.senderKey] = Fixtures.rrk
        let decoded = try decoder.decode(GossipRequest.self, from: Data(json.utf8))
        #expect(decoded.digest == request.digest && decoded.from == Fixtures.rrk)
    }

    @Test func theSenderIsTheOneTheTransportAuthenticatedNotOneTheBodyNames() throws {
        let body = Data(#"{"digest":[],"from":"RQ3"}"#.utf8)
        let decoder = JSONDecoder()
        decoder.userInfo[GossipRequest.senderKey] = Fixtures.rrk
        #expect(throws: DecodingError.self) { try decoder.decode(GossipRequest.self, from: body) }
        // Without a sender from the transport there is none (a body naming one is not believed alone
        // by the node's door, which always names the envelope's sender).
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(GossipRequest.self, from: Data(#"{"digest":[]}"#.utf8))
        }
        let same = try decoder.decode(GossipRequest.self, from: Data(#"{"digest":[],"from":"RRK"}"#.utf8))
        #expect(same.from == Fixtures.rrk)
    }

    @Test func digestListingAnOriginTwiceIsRefused() {
        let json = #"{"digest":["RRK:1","RRK:9"]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(GossipResponse.self, from: Data(json.utf8)) }
    }

    @Test func responseCarriesRecordsWithValidSignatures() throws {
        let key = Fixtures.key(1)
        let record = Fixtures.record(origin: Fixtures.rrk, sequence: 1, key: key)
        let response = GossipResponse(digest: [Fixtures.rrk: 1], records: [record])
        let decoded = try JSONDecoder().decode(GossipResponse.self, from: try JSONEncoder().encode(response))
        #expect(decoded.records == [record])
        try decoded.records[0].verify(with: key.verifyingKey)
    }
}
