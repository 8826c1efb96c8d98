import Foundation
import Testing
import TrustMeshPeer

@testable import TrustMeshFetch
@testable import TrustMeshStore

/// The fetch manifest names the protocol it is written in, and a requester reads only one it speaks.
@Suite struct ManifestVersionTests {
    /// A manifest answer as JSON, with `protocol` set to `version` (removed when nil).
    func answer(protocol version: Int?) throws -> Data {
        let response = ManifestResponse(
            transferID: "0123456789abcdef", transferKey: "AAAA",
            manifest: TransferManifest(studyUID: "1.2.3", nhsNumber: nil, instances: []))
        var object = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(response)) as? [String: Any])
        #expect(object["protocol"] as? Int == PeerProtocol.version)
        object["protocol"] = version
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test func aManifestCarriesItsProtocolAndOneNotSpokenFailsInWords() throws {
        let read = try JSONDecoder().decode(ManifestResponse.self, from: try answer(protocol: 2))
        #expect(read.protocol == 2)
        #expect(read.manifest.studyUID == "1.2.3")
        for (version, words) in [
            (3, "the manifest is protocol 3, this node speaks 2"),
            (nil, "the manifest is protocol 1, this node speaks 2"),
        ] {
            do {
                _ = try JSONDecoder().decode(ManifestResponse.self, from: try answer(protocol: version))
                Issue.record("a manifest of protocol \(version ?? 1) was read")
            } catch let error as FetchError {
                #expect(error.description == words)
            }
        }
    }
}
