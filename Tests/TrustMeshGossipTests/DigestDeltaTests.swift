import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

/// Digests by difference: after a first exchange, peers send only the entries that changed and the
/// hash of the whole, so an exchange costs the same whatever the number of origins; a peer that
/// cannot rebuild the other's digest asks for the whole one and still gets what it lacks.
@Suite struct DigestDeltaTests {
    /// Two nodes, both already holding one record of each of `origins` trusts.
    struct Pair {
        let a: TrustID
        let b: TrustID
        let keys: [TrustID: SigningKey]
        let logs: [TrustID: InMemoryIndexLog]
        let transport = InMemoryGossipTransport()
        var nodes: [TrustID: GossipNode] = [:]

        init(origins: Int) async throws {
            var keys: [TrustID: SigningKey] = [:]
            for index in 1...origins {
                keys[try TrustID(String(format: "N%04d", index))] = Fixtures.key(UInt8(index))
            }
            self.keys = keys
            a = try TrustID("N0001")
            b = try TrustID("N0002")
            let history = keys.map { Fixtures.record(origin: $0.key, sequence: 1, key: $0.value) }
            var logs: [TrustID: InMemoryIndexLog] = [:]
            for id in [a, b] {
                logs[id] = InMemoryIndexLog()
                await logs[id]?.append(history)
            }
            self.logs = logs
            start(a)
            start(b)
        }

        /// Starts (or restarts, forgetting what it heard and told) a node on its log.
        mutating func start(_ id: TrustID) {
            let node = GossipNode(
                id: id, peers: [id == a ? b : a], keys: keys.mapValues(\.verifyingKey), log: logs[id]!,
                transport: transport, settings: GossipSettings(fanout: 1))
            transport.register(node)
            nodes[id] = node
        }

        /// Bytes and messages of one round run by `id`.
        func round(_ id: TrustID) async -> (bytes: Int, messages: Int) {
            transport.resetStatistics()
            await nodes[id]!.runRound()
            return (transport.statistics.bytes, transport.statistics.messages)
        }

        /// The next record of `origin`, stored in `id`'s log as if it had just arrived there.
        func arrives(at id: TrustID, from origin: TrustID) async -> IndexRecord {
            let held = await logs[id]!.digest()[origin] ?? 0
            let record = Fixtures.record(origin: origin, sequence: held + 1, instances: 7, key: keys[origin]!)
            await logs[id]!.append([record])
            return record
        }
    }

    @Test func peersInSyncExchangeTwoHashesAndASpreadingRecordAddsOneEntry() async throws {
        var pair = try await Pair(origins: 200)
        let first = await pair.round(pair.a)
        let second = await pair.round(pair.a)
        let third = await pair.round(pair.b)
        print(
            "gossip digests, 200 origins: first exchange \(first.bytes) bytes, then \(second.bytes) and \(third.bytes)")
        // The first exchange carries both whole digests: 200 entries each way.
        #expect(first.messages == 2 && first.bytes > 2 * 200 * 30)
        // In sync, each side's message is its hash and nothing else: whichever side starts.
        #expect(second.messages == 2 && second.bytes < 100)
        #expect(third.messages == 2 && third.bytes < 100)

        // A record of a third trust reaches A: A's next message names that one origin, B lacks it,
        // and A pushes it in the same exchange.
        let record = await pair.arrives(at: pair.a, from: try TrustID("N0150"))
        let size = try JSONEncoder().encode(record).count
        let spreading = await pair.round(pair.a)
        #expect(await pair.logs[pair.b]!.records(origin: record.origin, after: 1, limit: 5) == [record])
        #expect(spreading.messages == 4)
        #expect(spreading.bytes < size + 400, "\(spreading.bytes) bytes for a \(size)-byte record")
        // And both are in sync again: two hashes.
        #expect(await pair.round(pair.b).bytes < 120)
        #expect(await pair.nodes[pair.a]!.digestResends == 0)
        #expect(await pair.nodes[pair.b]!.digestResends == 0)

        // Nothing is withheld from a peer whose entry this node changed only by a record it got
        // from that peer: B's own next record goes to A on B's round.
        let own = await pair.arrives(at: pair.b, from: pair.b)
        _ = await pair.round(pair.b)
        #expect(await pair.logs[pair.a]!.records(origin: pair.b, after: 1, limit: 5) == [own])
    }

    @Test func aPeerThatForgotAsksForTheWholeDigestAndStillGetsWhatItLacksInTheSameExchange() async throws {
        var pair = try await Pair(origins: 30)
        _ = await pair.round(pair.a)
        _ = await pair.round(pair.a)
        // B restarts: it has forgotten what A's digest was, so A's changes do not apply.
        pair.start(pair.b)
        let record = await pair.arrives(at: pair.a, from: try TrustID("N0007"))
        _ = await pair.round(pair.a)
        #expect(await pair.nodes[pair.b]!.digestResends == 1)
        #expect(await pair.logs[pair.b]!.records(origin: record.origin, after: 1, limit: 5) == [record])
        // Then they are in sync by hashes again.
        #expect(await pair.round(pair.b).bytes < 120)

        // The other way round: A forgets, B has something new; B's changes do not apply at A, A
        // asks for the whole digest and, in the answer to it, is sent the record it lacks.
        pair.start(pair.a)
        let other = await pair.arrives(at: pair.b, from: try TrustID("N0009"))
        _ = await pair.round(pair.a)
        #expect(await pair.nodes[pair.a]!.digestResends == 1)
        #expect(await pair.logs[pair.a]!.records(origin: other.origin, after: 1, limit: 5) == [other])
    }

    @Test func eachFormOfTheDigestDecodesAndAMalformedOneIsRefused() throws {
        let key = Fixtures.key(1)
        let record = Fixtures.record(origin: Fixtures.rrk, sequence: 3, key: key)
        let heads = [Fixtures.rrk: IndexHead(sequence: 3, fingerprint: RecordFingerprint(record))]
        let whole = GossipRequest(from: Fixtures.rq3, heads: heads)
        let decoder = JSONDecoder()
        decoder.userInfo[GossipRequest.senderKey] = Fixtures.rq3
        let decoded = try decoder.decode(GossipRequest.self, from: try JSONEncoder().encode(whole))
        #expect(decoded.isWhole && decoded.digest == [Fixtures.rrk: 3] && decoded.hash == DigestHash(heads))

        let hash = DigestHash(heads).description
        let idle = try JSONDecoder().decode(GossipResponse.self, from: Data(#"{"hash":"\#(hash)"}"#.utf8))
        #expect(!idle.isWhole && idle.hash == DigestHash(heads) && idle.digest.isEmpty)

        let differences = #"{"digest":["RQ3:2"],"hash":"\#(hash)"}"#
        let differing = try JSONDecoder().decode(GossipResponse.self, from: Data(differences.utf8))
        #expect(!differing.isWhole && differing.digest == [Fixtures.rq3: 2] && differing.hash == DigestHash(heads))

        for bad in [
            #"{}"#,  // neither a digest nor a hash
            #"{"hash":"AAAA"}"#,  // not 16 bytes
            #"{"held":["RRK"]}"#,
            #"{"digest":["RRK:+1"]}"#,  // a sequence is digits only
            #"{"digest":["RRK"]}"#,
            #"{"digest":["RRK:1:q83vEjRWeJASNFZ4kBI0Vg:x"]}"#,
        ] {
            #expect(throws: DecodingError.self, "\(bad)") {
                try JSONDecoder().decode(GossipResponse.self, from: Data(bad.utf8))
            }
        }
    }
}

extension DigestDeltaTests {
    /// Two nodes gossiping at the same moment (their exchanges cross: each answers the other's
    /// request while its own is on the way), records arriving at both all along: every record still
    /// reaches the other within a few rounds, and the digests do not keep failing.
    @Test func crossingExchangesStillDeliverEveryRecord() async throws {
        var pair = try await Pair(origins: 12)
        var expected: [TrustID: UInt64] = [:]
        for round in 0..<40 {
            let origin = try TrustID(String(format: "N%04d", 3 + round % 10))
            let at = round.isMultiple(of: 2) ? pair.a : pair.b
            if round < 30 { _ = await pair.arrives(at: at, from: origin) }
            await withTaskGroup(of: Void.self) { group in
                for node in [pair.nodes[pair.a]!, pair.nodes[pair.b]!] {
                    group.addTask { await node.runRound() }
                }
            }
            if round == 20 { pair.start(pair.a) }
        }
        for origin in pair.keys.keys {
            expected[origin] = max(
                await pair.logs[pair.a]!.digest()[origin] ?? 0, await pair.logs[pair.b]!.digest()[origin] ?? 0)
        }
        #expect(await pair.logs[pair.a]!.digest() == expected)
        #expect(await pair.logs[pair.b]!.digest() == expected)
        let resends = await pair.nodes[pair.a]!.digestResends + pair.nodes[pair.b]!.digestResends
        print("gossip digests: crossing exchanges, \(resends) digests resent in 40 rounds")
        #expect(resends < 20)
    }
}
