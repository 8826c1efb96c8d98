import Foundation
import Testing
import TrustMeshAudit
import TrustMeshCrypto
import TrustMeshModel

@Suite struct AuditChainTests {
    typealias F = Fixtures

    // MARK: Building and verifying

    @Test func appendedEntriesChainFromZeroAndVerify() throws {
        let entries = F.log(count: 5)
        #expect(entries.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(entries[0].previousHash == AuditEntry.zeroHash)
        for (previous, entry) in zip(entries, entries.dropFirst()) { #expect(entry.previousHash == previous.hash) }
        let log = try AuditChain.verify(entries, key: F.rrkKey.verifyingKey)
        #expect(log.trust == F.rrk)
        #expect(log.head == entries.last)
    }

    @Test func sealingIsDeterministicAndTheHashCoversTheCanonicalBytes() {
        let a = F.log(count: 3)
        let b = F.log(count: 3)
        #expect(a == b)
        for entry in a { #expect(BLAKE2b256.hash(entry.canonicalBytes) == entry.hash) }
    }

    @Test func subjectOrderDoesNotChangeTheHash() {
        var one = AuditEntry.Draft(trust: F.rrk, time: F.time(1), kind: .query, actor: "Dr A")
        one.subject = [.studyUID: "1.2.3", .nhsNumber: F.patient.digits, .peer: "RQ3"]
        var two = one
        two.subject = [:]
        two.subject[.peer] = "RQ3"
        two.subject[.nhsNumber] = F.patient.digits
        two.subject[.studyUID] = "1.2.3"
        #expect(one.sealed(previous: nil, key: F.rrkKey) == two.sealed(previous: nil, key: F.rrkKey))
    }

    @Test func appendRefusesADraftOfAnotherTrust() {
        var chain = AuditChain(trust: F.rrk)
        let error = F.failure {
            _ = try chain.append(
                AuditEntry.Draft(trust: F.rq3, time: F.time(1), kind: .query, actor: "x"), key: F.rrkKey)
        }
        #expect(error == .wrongTrust(trust: F.rrk, sequence: 1, found: F.rq3))
        #expect(chain.head == nil)
    }

    /// The worked example of docs/AUDIT-FORMAT.md, cross-checked there with Python's hashlib and
    /// `cryptography`.
    @Test func canonicalBytesOfTheWorkedExampleArePinned() throws {
        let draft = AuditEntry.Draft(
            trust: F.rrk, time: "2026-11-25T09:30:00Z", kind: .fetchRefused, actor: "RQ3",
            subject: [
                .peer: "RQ3", .studyUID: "1.2.826.0.1.3680043.10.999.1", .rule: "noCareRelationship",
                .nhsNumber: "9434765919",
            ])
        let entry = draft.sealed(previous: nil, key: F.rrkKey)
        #expect(F.rrkKey.verifyingKey.base64 == WorkedExample.publicKey)
        #expect(entry.canonicalBytes.count == 243)
        #expect(Hex.string(entry.canonicalBytes) == WorkedExample.messageHex)
        #expect(entry.hash.hex == WorkedExample.hash)
        #expect(entry.signature.base64 == WorkedExample.signature)
        let line = String(decoding: try AuditExport.line(entry), as: UTF8.self)
        #expect(line == WorkedExample.line + "\n")
        #expect(try AuditExport.parse(Array(WorkedExample.line.utf8)).entries == [entry])

        let checkpoint = AuditCheckpoint.signed(
            trust: F.rrk, sequence: 1, headHash: entry.hash, time: "2026-11-25T09:35:00Z", key: F.rrkKey)
        #expect(Hex.string(checkpoint.signedBytes) == WorkedExample.checkpointHex)
        #expect(checkpoint.signature.base64 == WorkedExample.checkpointSignature)
    }

    @Test func exportRoundTripsEntriesAndHeldCheckpoints() throws {
        var builder = F.LogBuilder(F.rrk)
        builder.add(.careAdded, at: 1, actor: "Dr A", [.careID: "c1"], details: F.json(F.care()))
        builder.add(.query, at: 2, actor: "Dr A / RRK", [.nhsNumber: F.patient.digits])
        var rq3 = F.LogBuilder(F.rq3)
        rq3.add(.nodeStarted, at: 0)
        let held = HeldCheckpoint(heldBy: F.rrk, checkpoint: rq3.checkpoint(at: 1))
        let export = AuditExport(entries: builder.entries, checkpoints: [held])
        let bytes = try export.jsonLines()
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(String(decoding: bytes, as: UTF8.self).split(separator: "\n").count == 3)
        #expect(try AuditExport.parse(bytes) == export)
        #expect(try export.jsonLines() == bytes)
    }

    @Test func malformedLinesAreReportedByLineNumber() throws {
        let good = try AuditExport(entries: F.log(count: 2)).jsonLines()
        let cases: [(String, String)] = [
            ("not json\n", "line 3: not strict JSON: not a JSON value (expected null) (byte 1)"),
            ("{\"type\":\"gossip\"}\n", "line 3: unknown type \"gossip\""),
            ("{\"type\":\"entry\",\"trust\":\"RRK\"}\n", "line 3: missing \"subject\""),
        ]
        for (extra, message) in cases {
            let error = F.failure { _ = try AuditExport.parse(good + Array(extra.utf8)) }
            #expect(error?.check == "malformed")
            #expect(error?.description.contains(message) == true, "\(error?.description ?? "nil")")
        }
        let badKey = String(decoding: good, as: UTF8.self).replacingOccurrences(
            of: "\"nhsNumber\"", with: "\"nhs number\"")
        #expect(F.failure { _ = try AuditExport.parse(Array(badKey.utf8)) }?.description.contains("line 2") == true)
    }

    // MARK: Tampering, one way at a time

    static let pinned = Fixtures.rrkKey.verifyingKey

    func verify(_ entries: [AuditEntry]) -> AuditError? {
        F.failure { _ = try AuditChain.verify(entries, trust: F.rrk, key: Self.pinned) }
    }

    /// The tamper goes through the JSON Lines text, as an insider with an editor would make it.
    @Test func editingAFieldInTheExportIsABadHash() throws {
        let text = String(decoding: try AuditExport(entries: F.log(count: 6)).jsonLines(), as: UTF8.self)
        var lines = text.split(separator: "\n").map(String.init)
        lines[2] = lines[2].replacingOccurrences(of: "\"actor\":\"Dr 3\"", with: "\"actor\":\"Dr 9\"")
        let tampered = try AuditExport.parse(Array(lines.joined(separator: "\n").utf8))
        let error = verify(tampered.entries)
        #expect(error?.trust == F.rrk)
        #expect(error?.sequence == 3)
        #expect(error?.check == "bad hash")
        #expect(error?.description.hasPrefix("RRK #3: bad hash: the entry's fields hash to ") == true)
    }

    @Test func editingAFieldAndItsHashIsABadSignature() {
        var entries = F.log(count: 6)
        let edited = F.edited(entries[2]) { $0.kind = .nodeStopped }
        entries[2] = AuditEntry(
            draft: edited.draft, sequence: 3, previousHash: edited.previousHash,
            hash: BLAKE2b256.hash(edited.canonicalBytes), signature: edited.signature)
        #expect(verify(entries) == .badSignature(trust: F.rrk, sequence: 3))
        #expect(
            verify(entries)?.description.hasPrefix("RRK #3: bad signature: the entry is not signed by RRK's key")
                == true)
    }

    @Test func editingAnEntryAndReSigningItWithTheNodesOwnKeyBreaksTheNextLink() {
        var entries = F.log(count: 6)
        entries[2] = F.resigned(F.edited(entries[2]) { $0.actor = "nobody" }, key: F.rrkKey)
        #expect(verify(entries) == .brokenLink(trust: F.rrk, sequence: 4, previous: entries[2].hash))
        #expect(verify(entries)?.description.hasPrefix("RRK #4: broken link: previousHash is not ") == true)
    }

    @Test func deletingAnEntryIsASequenceGap() {
        var entries = F.log(count: 6)
        entries.remove(at: 2)
        #expect(verify(entries) == .sequenceGap(trust: F.rrk, sequence: 4, expected: 3))
        #expect(verify(entries)?.description == "RRK #4: sequence gap: entry #3 is missing (expected #3, found #4)")
        entries.remove(at: 2)
        #expect(
            verify(entries)?.description == "RRK #5: sequence gap: entries #3–#4 are missing (expected #3, found #5)")
    }

    @Test func deletingAnEntryAndRenumberingTheRestIsABadHash() {
        var entries = F.log(count: 6)
        entries.remove(at: 2)
        entries = entries.map { $0.sequence > 3 ? F.edited($0, sequence: $0.sequence - 1) { _ in } : $0 }
        #expect(verify(entries)?.sequence == 3)
        #expect(verify(entries)?.check == "bad hash")
    }

    @Test func reorderingEntriesIsOutOfOrder() {
        var entries = F.log(count: 6)
        entries.swapAt(2, 3)
        #expect(verify(entries) == .outOfOrder(trust: F.rrk, sequence: 4, expected: 3))
        #expect(verify(entries)?.description == "RRK #4: out of order: found where #3 belongs (entries were reordered)")
    }

    @Test func duplicatingAnEntryIsADuplicate() {
        var entries = F.log(count: 4)
        entries.insert(entries[1], at: 3)
        #expect(verify(entries) == .duplicate(trust: F.rrk, sequence: 2))
    }

    @Test func reSigningTheWholeLogWithAnotherKeyFailsAtTheFirstEntry() {
        let forged = F.log(count: 6, key: F.malloryKey)
        #expect(verify(forged) == .badSignature(trust: F.rrk, sequence: 1))
    }

    @Test func reSigningOneEntryWithAnotherKeyIsABadSignature() {
        var entries = F.log(count: 6)
        entries[4] = F.resigned(F.edited(entries[4]) { $0.actor = "someone else" }, key: F.malloryKey)
        #expect(verify(entries) == .badSignature(trust: F.rrk, sequence: 5))
    }

    @Test func splicingInAnEntryOfAnotherTrustIsAWrongTrust() {
        var entries = F.log(count: 6)
        let theirs = F.log(F.rq3, count: 6)
        entries.insert(theirs[3], at: 3)
        #expect(verify(entries) == .wrongTrust(trust: F.rrk, sequence: 4, found: F.rq3))
        #expect(
            verify(entries)?.description
                == "RRK #4: wrong trust: this entry belongs to RQ3's log, not RRK's (spliced from another trust)")
        // In place of one of ours, and as the very first line (the export's trust is still the majority's).
        var replaced = F.log(count: 6)
        replaced[0] = theirs[0]
        let export = AuditExport(entries: replaced)
        #expect(export.trust == F.rrk)
        #expect(verify(export.entries) == .wrongTrust(trust: F.rrk, sequence: 1, found: F.rq3))
    }

    @Test func splicingAnotherTrustsEntryRelabelledAsOursIsABadHash() {
        var entries = F.log(count: 6)
        let theirs = F.log(F.rq3, count: 6)
        entries[3] = F.edited(theirs[3]) { $0.trust = F.rrk }
        #expect(verify(entries)?.sequence == 4)
        #expect(verify(entries)?.check == "bad hash")
    }

    @Test func truncatingTheTailPassesTheChainButNotAPeersCheckpoint() throws {
        let entries = F.log(count: 8)
        let checkpoint = AuditCheckpoint.signed(
            trust: F.rrk, sequence: 8, headHash: entries[7].hash, time: F.time(9), key: F.rrkKey)
        let full = try AuditChain.verify(entries, key: Self.pinned)
        try full.check(checkpoint, heldBy: F.rq3)

        let truncated = try AuditChain.verify(Array(entries.prefix(5)), key: Self.pinned)
        let error = F.failure { try truncated.check(checkpoint, heldBy: F.rq3) }
        #expect(error == .truncated(trust: F.rrk, sequence: 8, logEnd: 5, heldBy: F.rq3))
        #expect(
            error?.description
                == "RRK #8: truncated: the log ends at #5, but RRK signed a checkpoint at #8 held by RQ3 "
                + "(entries were removed from the end)")
    }

    @Test func rewritingHistoryWithTheNodesOwnKeyIsExposedByAPeersCheckpoint() throws {
        let original = F.log(count: 8)
        let checkpoint = AuditCheckpoint.signed(
            trust: F.rrk, sequence: 6, headHash: original[5].hash, time: F.time(7), key: F.rrkKey)
        // The insider holds the key: from #3 on, every entry is rebuilt into a consistent chain.
        var chain = AuditChain(trust: F.rrk, head: original[1])
        var rewritten = Array(original.prefix(2))
        for entry in original.dropFirst(2) {
            var draft = entry.draft
            if entry.sequence == 3 { draft.actor = "nobody" }
            rewritten.append(try chain.append(draft, key: F.rrkKey))
        }
        let log = try AuditChain.verify(rewritten, key: Self.pinned)
        let error = F.failure { try log.check(checkpoint, heldBy: F.rq3) }
        #expect(error?.trust == F.rrk)
        #expect(error?.sequence == 6)
        #expect(error?.check == "rewritten")
        #expect(error?.description.contains("but RRK's checkpoint held by RQ3 says") == true)
    }

    @Test func aCheckpointTheTrustDidNotSignIsRefused() throws {
        let entries = F.log(count: 4)
        let log = try AuditChain.verify(entries, key: Self.pinned)
        let forged = AuditCheckpoint.signed(
            trust: F.rrk, sequence: 9, headHash: entries[3].hash, time: F.time(5), key: F.rq3Key)
        #expect(
            F.failure { try log.check(forged, heldBy: F.rq3) }
                == .badCheckpoint(trust: F.rrk, sequence: 9, heldBy: F.rq3))
    }

    @Test func anUnknownTrustAndAnEmptyLogAreReported() throws {
        let verification = AuditVerification(exports: [AuditExport(entries: F.log(count: 2))], keys: [:])
        #expect(verification.files[0].failure == .unknownTrust(F.rrk))
        #expect(
            F.failure { _ = try AuditChain.verify([], key: Self.pinned) }?.description
                == "malformed: line 0: the log has no entries and names no trust")
        #expect(try AuditChain.verify([], trust: F.rrk, key: Self.pinned).head == nil)
    }

    // MARK: Key changes

    /// Three entries signed with RRK's first key, a `keyChanged` entry naming it signed with the
    /// new key, and one more entry signed with the new key.
    static func logWithKeyChange() throws -> (entries: [AuditEntry], newKey: SigningKey) {
        let newKey = try SigningKey(seed: Array(repeating: 9, count: 32))
        var chain = AuditChain(trust: F.rrk)
        var entries = (1...3).map { n in
            try! chain.append(AuditEntry.Draft(trust: F.rrk, time: F.time(n), kind: .query, actor: "a"), key: F.rrkKey)
        }
        entries.append(
            try chain.append(
                AuditEntry.Draft(
                    trust: F.rrk, time: F.time(4), kind: .keyChanged, actor: "operator",
                    details: F.rrkKey.verifyingKey.base64), key: newKey))
        entries.append(
            try chain.append(AuditEntry.Draft(trust: F.rrk, time: F.time(5), kind: .query, actor: "b"), key: newKey))
        return (entries, newKey)
    }

    @Test func aKeyChangeHandsTheEarlierEntriesToThePreviousKey() throws {
        let (entries, newKey) = try Self.logWithKeyChange()
        let log = try AuditChain.verify(entries, key: newKey.verifyingKey)
        // A checkpoint from before the change still verifies, with the key in force then.
        try log.check(
            AuditCheckpoint.signed(
                trust: F.rrk, sequence: 2, headHash: entries[1].hash, time: F.time(2), key: F.rrkKey),
            heldBy: F.rq3)
        // The old key alone no longer verifies the log's tail.
        #expect(verify(entries) == .badSignature(trust: F.rrk, sequence: 4))
        // A key change that the pinned key did not sign hands over nothing.
        var forged = entries
        forged[3] = F.resigned(entries[3], key: F.malloryKey)
        #expect(
            F.failure { _ = try AuditChain.verify(forged, key: newKey.verifyingKey) }
                == .badSignature(trust: F.rrk, sequence: 1))
    }

    // MARK: Entry by entry (the audit page)

    @Test func checkingEntryByEntryAcceptsALogThatChangedKeys() throws {
        let (entries, newKey) = try Self.logWithKeyChange()
        // The page's checks are verify's: every entry of a valid log verifies, those signed before
        // the key change included (a page with its own copy called them tampered).
        let checks = AuditChain.check(entries, trust: F.rrk, key: newKey.verifyingKey)
        #expect(checks.map(\.entry) == entries)
        #expect(checks.allSatisfy { $0.problem == nil })
        _ = try AuditChain.verify(entries, key: newKey.verifyingKey)
    }

    @Test func checkingEntryByEntryNamesEachEntryThatFailsAndOnlyThose() {
        var entries = F.log(count: 6)
        entries[1] = F.edited(entries[1]) { $0.actor = "someone else" }
        entries[4] = F.resigned(entries[4], key: F.malloryKey)
        entries[5] = F.edited(entries[5]) { $0.time = "yesterday" }
        entries[5] = F.resigned(entries[5], key: F.rrkKey)
        let checks = AuditChain.check(entries, trust: F.rrk, key: Self.pinned)
        #expect(checks.map { $0.problem == nil } == [true, false, true, true, false, false])
        #expect(
            checks[1].problem
                == .badHash(
                    trust: F.rrk, sequence: 2, computed: BLAKE2b256.hash(entries[1].canonicalBytes),
                    recorded: entries[1].hash))
        #expect(checks[4].problem == .badSignature(trust: F.rrk, sequence: 5))
        #expect(checks[5].problem == .malformedTime(trust: F.rrk, sequence: 6, time: "yesterday"))
        // The first failure is the one verify throws.
        #expect(F.failure { _ = try AuditChain.verify(entries, key: Self.pinned) } == checks[1].problem)
    }

    // MARK: Several exports together

    @Test func verificationChecksEveryLogAgainstEveryHeldAndRecordedCheckpoint() throws {
        var rrk = F.LogBuilder(F.rrk)
        for minute in 1...6 { rrk.add(.query, at: minute, actor: "Dr \(minute)") }
        let pinnedAt6 = rrk.checkpoint(at: 7)
        var rq3 = F.LogBuilder(F.rq3)
        rq3.add(.nodeStarted, at: 0)
        // RQ3 records RRK's checkpoint in its own log, and holds a later one.
        rq3.add(.checkpoint, at: 7, actor: "RRK", [.peer: "RRK", .sequence: "6"], details: F.json(pinnedAt6))
        rrk.add(.query, at: 8, actor: "Dr 8")
        let held = HeldCheckpoint(heldBy: F.rq3, checkpoint: rrk.checkpoint(at: 9))
        let rq3Export = AuditExport(entries: rq3.entries, checkpoints: [held])

        let clean = AuditVerification(exports: [rrk.export, rq3Export], keys: F.keys)
        #expect(clean.isClean)
        #expect(clean.files[0].checkpointsChecked.map(\.checkpoint.sequence) == [6, 7])

        // Truncated below both: the earliest disagreement is reported.
        let truncated = AuditExport(entries: Array(rrk.entries.prefix(4)))
        let result = AuditVerification(exports: [truncated, rq3Export], keys: F.keys)
        #expect(result.files[0].failure == .truncated(trust: F.rrk, sequence: 6, logEnd: 4, heldBy: F.rq3))
        #expect(result.files[1].failure == nil)

        // Without the peer's export, nothing exposes it.
        #expect(AuditVerification(exports: [truncated], keys: F.keys).isClean)
    }

    @Test func twoDifferentCopiesOfOneTrustsLogAreAFork() {
        let original = F.log(count: 5)
        var chain = AuditChain(trust: F.rrk, head: original[2])
        var fork = Array(original.prefix(3))
        fork.append(
            try! chain.append(AuditEntry.Draft(trust: F.rrk, time: F.time(4), kind: .query, actor: "z"), key: F.rrkKey))
        let verification = AuditVerification(
            exports: [AuditExport(entries: original), AuditExport(entries: fork)], keys: F.keys)
        #expect(verification.files[0].failure == .conflictingCopies(trust: F.rrk, sequence: 4))
        #expect(verification.files[1].failure == .conflictingCopies(trust: F.rrk, sequence: 4))
        // An older, shorter export of the same history is fine.
        #expect(
            AuditVerification(
                exports: [AuditExport(entries: original), AuditExport(entries: Array(original.prefix(2)))], keys: F.keys
            ).isClean)
    }
}

/// The worked example of docs/AUDIT-FORMAT.md.
enum WorkedExample {
    static let publicKey = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
    static let messageHex =
        "54727573744d6573682f4175646974456e7472792f7631000000000352524b000000000000000100000014323032362d31312d"
        + "32355430393a33303a30305a0000000c6665746368526566757365640000000352513300000008000000096e68734e756d62"
        + "65720000000a393433343736353931390000000470656572000000035251330000000472756c65000000126e6f4361726552"
        + "656c6174696f6e736869700000000873747564795549440000001c312e322e3832362e302e312e333638303034332e31302e"
        + "3939392e3100000000200000000000000000000000000000000000000000000000000000000000000000"
    static let hash = "c41a67895bd5fa2921249c15bd1ef646df0b1dca364383b8cc3f57c100001a20"
    static let signature = "B4iMmAoWS8KIG/4hXMUH+7Ha9cVAxTITEJ6XAQMdTKVkIqKz6c9K7tP1WZ3pdd6L5CHzerFoPq0dqSBhWBG7Bg=="
    static let line =
        #"{"actor":"RQ3","hash":"c41a67895bd5fa2921249c15bd1ef646df0b1dca364383b8cc3f57c100001a20","kind":"fetchRefused","#
        + #""previousHash":"0000000000000000000000000000000000000000000000000000000000000000","sequence":1,"#
        + #""signature":"B4iMmAoWS8KIG/4hXMUH+7Ha9cVAxTITEJ6XAQMdTKVkIqKz6c9K7tP1WZ3pdd6L5CHzerFoPq0dqSBhWBG7Bg==","#
        + #""subject":{"nhsNumber":"9434765919","peer":"RQ3","rule":"noCareRelationship","#
        + #""studyUID":"1.2.826.0.1.3680043.10.999.1"},"time":"2026-11-25T09:30:00Z","trust":"RRK","type":"entry"}"#
    static let checkpointHex =
        "54727573744d6573682f4175646974436865636b706f696e742f7631000000000352524b000000000000000100000020c41a6789"
        + "5bd5fa2921249c15bd1ef646df0b1dca364383b8cc3f57c100001a2000000014323032362d31312d32355430393a33353a30305a"
    static let checkpointSignature =
        "LxkuyjXP3aVm0T8UH60uXnMjYQL8emAYO8KUnRXjB+GlpMwrx1v53PVCC/YhPg4C0NnkyNF7pXus4wUk7MtNBQ=="
}

enum Hex {
    static func string(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
