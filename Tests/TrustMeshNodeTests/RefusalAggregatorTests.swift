import Foundation
import Testing
import TrustMeshModel
import TrustMeshNodeCore

/// The audit log's refusal windows, with time given (no clock, no sleeps).
@Suite struct RefusalAggregatorTests {
    let start = Date(timeIntervalSince1970: 1_000_000)

    @Test func theFirstRefusalOfAWindowIsWrittenAndTheRestCountedWithTheirReasons() {
        let aggregator = RefusalAggregator(window: 60)
        let actor = Actor.system("unauthenticated 10.0.0.9")
        var written = 0
        for second in 0..<1000 {
            let (write, ended) = aggregator.record(
                .peerRefused, source: "10.0.0.9", actor: actor, subject: [:],
                reason: second.isMultiple(of: 2) ? "badEnvelope" : "unknownPeer",
                now: start.addingTimeInterval(Double(second) / 100))
            if write { written += 1 }
            #expect(ended.isEmpty)
        }
        #expect(written == 1)
        // Not yet ended at 59 s; ended at 60 s, with the 999 after the first and why.
        #expect(aggregator.ended(now: start.addingTimeInterval(59)).isEmpty)
        let summaries = aggregator.ended(now: start.addingTimeInterval(60))
        #expect(summaries.count == 1)
        #expect(summaries.first?.repeated == 999)
        #expect(summaries.first?.reasons == ["badEnvelope": 499, "unknownPeer": 500])
        // The next refusal opens a new window and is written.
        let next = aggregator.record(
            .peerRefused, source: "10.0.0.9", actor: actor, subject: [:], reason: nil,
            now: start.addingTimeInterval(61))
        #expect(next.write)
    }

    @Test func sourcesAndReasonsAreBounded() {
        let aggregator = RefusalAggregator(window: 60)
        var written = 0
        for index in 0..<(RefusalAggregator.maximumSources + 500) {
            let (write, _) = aggregator.record(
                .peerRefused, source: "10.1.\(index / 256).\(index % 256)", actor: .system("unauthenticated"),
                subject: [:], reason: "reason \(index)", now: start)
            if write { written += 1 }
        }
        // One entry per source up to the cap, then one for every other source together.
        #expect(written == RefusalAggregator.maximumSources + 1)
        let summaries = aggregator.ended(now: start, all: true)
        #expect(summaries.count == 1)
        #expect(summaries.first?.source == "other sources")
        #expect(summaries.first?.repeated == 499)
        #expect(summaries.first?.reasons.count == RefusalAggregator.maximumReasons + 1)
        #expect(summaries.first?.reasons["other reasons"] == 499 - RefusalAggregator.maximumReasons)
    }
}
