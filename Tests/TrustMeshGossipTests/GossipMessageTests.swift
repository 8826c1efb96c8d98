import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

@Suite struct GossipMessageTests {
    @Test func digestTravelsAsAnArrayOfPairsSortedByOrigin() throws {
        let request = GossipRequest(from: Fixtures.rrk, digest: [Fixtures.rrk: 12, Fixtures.rq3: 4, Fixtures.rr8: 7])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(request), as: UTF8.self)
        #expect(
            json == #"{"digest":[{"origin":"RQ3","sequence":4},{"origin":"RR8","sequence":7},"#
                + #"{"origin":"RRK","sequence":12}],"from":"RRK","records":[]}"#)
        let decoded = try JSONDecoder().decode(GossipRequest.self, from: Data(json.utf8))
        #expect(decoded.digest == request.digest)
    }

    @Test func digestListingAnOriginTwiceIsRefused() {
        let json = #"{"digest":[{"origin":"RRK","sequence":1},{"origin":"RRK","sequence":9}],"records":[]}"#
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
