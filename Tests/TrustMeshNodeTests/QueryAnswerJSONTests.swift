import Foundation
import Testing
import TrustMeshGossip
import TrustMeshNodeCore

/// The federated query's answer is written by hand (`FederatedQueryResult.json`): these prove it is
/// the very bytes the local API sent through `JSONEncoder` with sorted keys, so no client sees a
/// change.
@Suite struct QueryAnswerJSONTests {
    static func encoded(_ result: FederatedQueryResult) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(result), as: UTF8.self)
    }

    @Test func theAnswerIsTheEncodersByteForByte() throws {
        let awkward = FederatedQueryResult.Study(
            studyInstanceUID: "1.2.826.0.1.3680043.8.498.1", holder: "RRK", holderName: "Hospital \"A\" / Trust\\B",
            studyDate: "20260102", modalities: ["CT", "PT/CT", ""], bodyParts: [],
            description: "Tête\u{1}\u{1f}\n\r\t\u{8}\u{c}\u{7f} \u{2028} 🩻", accessionNumber: nil,
            seriesCount: 3, instanceCount: -1, sizeBytes: Int.max, localCopy: true)
        let plain = FederatedQueryResult.Study(
            studyInstanceUID: "2.25.1", holder: "RQ3", studyDate: nil, modalities: [], bodyParts: ["CHEST"],
            localCopy: false)
        for result in [
            FederatedQueryResult(nhsNumber: "9434765919", optedOut: false, studies: [awkward, plain, plain]),
            FederatedQueryResult(nhsNumber: "9434765919", optedOut: true, studies: []),
            FederatedQueryResult(nhsNumber: "", optedOut: false, studies: [plain]),
        ] {
            #expect(String(decoding: result.json, as: UTF8.self) == (try Self.encoded(result)))
            #expect(try JSONDecoder().decode(FederatedQueryResult.self, from: Data(result.json)) == result)
        }
    }

    @Test func randomAnswersMatchTheEncoder() throws {
        // Every byte class a string can hold (controls, quote, backslash, slash, multi-byte), in
        // random fields that are present or not; a fixed seed so a failure can be repeated.
        var generator = SplitMix64(seed: 2026)
        let alphabet: [Character] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\u{0}", "\u{1b}", "\n", "é", "€", "𝄞", "^", "=",
        ]
        func text() -> String {
            String(
                (0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        func maybe() -> String? { Bool.random(using: &generator) ? text() : nil }
        for _ in 0..<300 {
            let studies = (0..<Int.random(in: 0...5, using: &generator)).map { _ in
                FederatedQueryResult.Study(
                    studyInstanceUID: text(), holder: text(), holderName: maybe(), studyDate: maybe(),
                    modalities: (0..<Int.random(in: 0...3, using: &generator)).map { _ in text() },
                    bodyParts: (0..<Int.random(in: 0...2, using: &generator)).map { _ in text() },
                    description: maybe(), accessionNumber: maybe(),
                    seriesCount: Int.random(in: -5...1_000, using: &generator),
                    instanceCount: Int.random(in: Int.min...Int.max, using: &generator),
                    sizeBytes: Int.random(in: 0...Int.max, using: &generator), localCopy: Bool.random(using: &generator)
                )
            }
            let result = FederatedQueryResult(
                nhsNumber: text(), optedOut: Bool.random(using: &generator), studies: studies)
            #expect(String(decoding: result.json, as: UTF8.self) == (try Self.encoded(result)))
        }
    }
}
