import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel
import TrustMeshStore
import TrustMeshTesting

/// `IndexRecordReader` (the fast path for stored index records) must read exactly what
/// `JSONDecoder` reads, or decline: it may never give a different record, nor accept what
/// `JSONDecoder` refuses.
@Suite struct IndexRecordReaderTests {
    static let key = try! SigningKey(seed: Array(repeating: 7, count: 32))

    /// What the fast path gives for `json`, next to JSONDecoder's answer.
    static func both(_ json: Data) -> (fast: IndexRecord?, decoded: Result<IndexRecord, any Error>) {
        let fast = json.withUnsafeBytes(IndexRecordReader.read)
        return (fast, Result { try JSONDecoder().decode(IndexRecord.self, from: json) })
    }

    /// Texts that exercise the string reader: escapes JSONEncoder writes, UTF-8 of every length,
    /// and a control character (written as a `\u` escape, which the fast path leaves alone).
    static let texts = [
        "CT Chest abdomen pelvis with contrast", "MR \"knee\" left", #"C:\PACS\export"#, "a/b/c", "line\nbreak\ttab",
        "Bíceps – IRM", "胸部CT", "😀 emoji", "", "bell\u{7}", " leading and trailing ",
    ]

    static func generated(count: Int) throws -> [IndexRecord] {
        var random = SystemRandomNumberGenerator()
        let nhs = try ["9434765919", "4010232137", "9876543210"].map(NHSNumber.init)
        let origins = try ["RRK", "RQ3", "R0A1B2"].map(TrustID.init)
        let kinds: [IndexRecord.Kind] = [
            .study, .withdrawn, .init(rawValue: "reannouncement"), .init(rawValue: "future"),
        ]
        return (0..<count).map { index in
            let text = { texts[Int.random(in: 0..<texts.count, using: &random)] }
            let maybe = { (value: String) in Bool.random(using: &random) ? value : nil }
            let count = { [0, 1, 42, -3, Int.max, Int.min][Int.random(in: 0..<6, using: &random)] }
            return IndexRecord.Draft(
                origin: origins[index % origins.count],
                sequence: [1, 2, UInt64(index) + 1, UInt64.max][index % 4],
                kind: kinds[index % kinds.count], nhsNumber: nhs[index % nhs.count],
                studyUID: maybe("1.2.826.0.1.3680043.10.\(index)"), studyDate: maybe("20261204"),
                modalities: Array(["CT", "MR", text()].prefix(index % 4)), bodyParts: maybe(text()).map { [$0] } ?? [],
                studyDescription: maybe(text()), accessionNumber: maybe(text()), seriesCount: count(),
                instanceCount: count(), sizeBytes: count(),
                manifestHash: Bool.random(using: &random) ? BLAKE2b256.hash(Array("m\(index)".utf8)) : nil,
                issuedAt: "2026-12-05T17:\(10 + index % 50):00Z"
            ).signed(by: key)
        }
    }

    @Test func generatedRecordsReadTheSameAsJSONDecoderReadsThem() throws {
        var fast = 0
        var escaped = 0
        for record in try Self.generated(count: 600) {
            let json = try JSONEncoder().encode(record)
            let (read, decoded) = Self.both(json)
            #expect(try decoded.get() == record)
            if let read {
                #expect(read == record, "\(String(decoding: json, as: UTF8.self))")
                fast += 1
            } else {
                // Declined only for a `\u` escape, which JSONEncoder writes for a control character.
                #expect(String(decoding: json, as: UTF8.self).contains("\\u"))
                escaped += 1
            }
        }
        // Every record without a `\u` escape is read by the fast path (most of them).
        #expect(fast + escaped == 600 && fast > 300, "the fast path read \(fast) of 600 (\(escaped) with \\u)")
    }

    @Test func anOptOutWithAStatementIsLeftToJSONDecoder() throws {
        let record = IndexRecord.Draft(
            origin: try TrustID("RRK"), sequence: 3, kind: .optOut, nhsNumber: try NHSNumber("9434765919"),
            issuedAt: "2026-12-05T17:10:00Z",
            statement: OptOutStatement(
                recordedBy: "Dr A", recorder: nil, expression: "form OPT-1", care: nil)
        ).signed(by: Self.key)
        let (read, decoded) = Self.both(try JSONEncoder().encode(record))
        #expect(read == nil)
        #expect(try decoded.get() == record)
    }

    /// Hand-made variations of a stored record: each is either declined or read exactly as
    /// JSONDecoder reads it, and never accepted where JSONDecoder refuses.
    @Test func variationsAreDeclinedOrReadAsJSONDecoderReadsThem() throws {
        let record = IndexRecord.Draft(
            origin: try TrustID("RRK"), sequence: 12, kind: .study, nhsNumber: try NHSNumber("9434765919"),
            studyUID: "1.2.826.0.1.3680043.10.7", studyDate: "20261204", modalities: ["CT", "MR"],
            bodyParts: ["CHEST"], studyDescription: "CT chest", accessionNumber: "ACC1", seriesCount: 3,
            instanceCount: 200, sizeBytes: 104_857_600, manifestHash: BLAKE2b256.hash(Array("m".utf8)),
            issuedAt: "2026-12-05T17:10:00Z"
        ).signed(by: Self.key)
        let base = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(base.utf8)) as? [String: Any])
        func with(_ key: String, _ raw: String) -> String {
            // The record with one member's value replaced by raw JSON text (or added).
            var members = object.keys.sorted().filter { $0 != key }.map { name in
                let value = try! JSONSerialization.data(withJSONObject: object[name]!, options: .fragmentsAllowed)
                return "\"\(name)\":\(String(decoding: value, as: UTF8.self))"
            }
            members.append("\"\(key)\":\(raw)")
            return "{" + members.joined(separator: ",") + "}"
        }
        let variations: [String] = [
            base, " \n" + base + " \t\r\n", base + "x", base + "{}", "", "{}", "[]", "null",
            String(base.dropLast()), base.replacingOccurrences(of: ",", with: ",,"),
            base.replacingOccurrences(of: "{", with: "{\"origin\":\"RQ3\","),  // a name twice
            with("sequence", "1.0"), with("sequence", "1e3"), with("sequence", "01"), with("sequence", "-1"),
            with("sequence", "18446744073709551616"), with("sequence", "\"5\""), with("sequence", "null"),
            with("seriesCount", "-0"), with("seriesCount", "9223372036854775808"),
            with("seriesCount", "-9223372036854775808"), with("seriesCount", "-9223372036854775809"),
            with("seriesCount", "true"), with("studyUID", "null"), with("studyUID", "7"),
            with("studyDescription", #""\u00e9t\u00e9""#), with("studyDescription", #""bad \x escape""#),
            with("studyDescription", "\"tab\tinside\""), with("studyDescription", #""\/ok\/""#),
            with("modalities", "[]"), with("modalities", "[\"CT\",]"), with("modalities", "[1]"),
            with("modalities", "null"), with("modalities", "\"CT\""), with("nhsNumber", "\"9434765918\""),
            with("origin", "\"rrk\""), with("origin", "\"R\""), with("manifestHash", "\"abc\""),
            with("manifestHash", "null"), with("signature", "\"AAAA\""), with("signature", "\"not base64!\""),
            with("kind", "\"somethingNew\""), with("unknownField", "1"), with("statement", "null"),
            with("statement", "{\"recordedBy\":\"x\",\"expression\":\"y\"}"),
            "{\"origin\":\"RRK\"}",
        ]
        var fast = 0
        for text in variations {
            for bytes in [Data(text.utf8), Data(text.utf8) + Data([0xFF])] {
                let (read, decoded) = Self.both(bytes)
                guard let read else { continue }
                fast += 1
                switch decoded {
                case .success(let expected): #expect(read == expected, "\(text)")
                case .failure(let error): Issue.record("read \(text) which JSONDecoder refuses: \(error)")
                }
            }
        }
        #expect(fast >= 5, "the fast path read only \(fast) variations")
        // Invalid UTF-8 inside a string is declined (JSONDecoder refuses it).
        var broken = Data(with("studyDescription", "\"ab\"").utf8)
        let at = try #require(broken.range(of: Data("ab".utf8))).lowerBound
        broken[at] = 0xC3
        #expect(Self.both(broken).fast == nil)
    }

    @Test func theIndexTableReadsBackWhatItStored() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let nhs = try NHSNumber("9434765919")
        let origin = try TrustID("RRK")
        let records = (1...40).map { sequence in
            IndexRecord.Draft(
                origin: origin, sequence: UInt64(sequence), kind: .study, nhsNumber: nhs,
                studyUID: "1.2.3.\(sequence)", studyDescription: Self.texts[sequence % Self.texts.count],
                issuedAt: "2026-12-05T17:10:00Z"
            ).signed(by: Self.key)
        }
        #expect(try store.index.append(records).count == 40)
        #expect(try store.index.records(nhs: nhs) == records)
        #expect(try store.index.patient(nhs: nhs).records == records)
    }
}

/// Migration v14: a catalogue whose records are keyed by origin and sequence (every catalogue
/// before it) is rebuilt keyed by patient, keeping every record and every way of reading them.
@Suite struct IndexClusteredMigrationTests {
    @Test func aCatalogueKeyedByOriginIsRebuiltKeyedByPatientWithNothingLost() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.appending("store")
        let patients = try ["9434765919", "4010232137", "9876543210"].map(NHSNumber.init)
        let origins = try ["RRK", "RQ3"].map(TrustID.init)
        var records: [IndexRecord] = []
        for origin in origins {
            for sequence in 1...30 {
                records.append(
                    IndexRecord.Draft(
                        origin: origin, sequence: UInt64(sequence),
                        kind: sequence % 10 == 0 ? .withdrawn : .study, nhsNumber: patients[sequence % 3],
                        studyUID: "1.2.\(sequence % 12)", issuedAt: "2026-12-05T17:10:00Z"
                    ).signed(by: IndexRecordReaderTests.key))
            }
        }
        do {
            let store = try StudyStore(directory: path)
            try store.index.append(records)
        }
        // Back to the layout before v14, as an older node left it.
        let sql = """
            CREATE TABLE old (origin TEXT NOT NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL,
                nhsNumber TEXT NOT NULL, studyUID TEXT, record BLOB NOT NULL, receivedAt TEXT NOT NULL,
                PRIMARY KEY (origin, sequence)) WITHOUT ROWID;
            INSERT INTO old SELECT origin, sequence, kind, nhsNumber, studyUID, record, receivedAt FROM indexRecord;
            DROP TABLE indexRecord;
            ALTER TABLE old RENAME TO indexRecord;
            CREATE INDEX indexRecord_nhs ON indexRecord(nhsNumber);
            DELETE FROM grdb_migrations WHERE identifier = 'v14: index records clustered by patient';
            """
        let catalogue = path + "/catalogue.sqlite"
        let reverted = try await CommandRunner.run("/usr/bin/sqlite3", [catalogue, sql])
        #expect(reverted.status == 0, "\(reverted.stderr)")

        let store = try StudyStore(directory: path)
        let schema = try await CommandRunner.run("/usr/bin/sqlite3", [catalogue, ".schema indexRecord"]).stdout
        #expect(schema.contains("PRIMARY KEY (nhsNumber, origin, sequence)"), "\(schema)")
        #expect(schema.contains("indexRecord_origin") && schema.contains("indexRecord_study"), "\(schema)")
        for nhs in patients {
            let expected = records.filter { $0.nhsNumber == nhs }
                .sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
            #expect(try store.index.records(nhs: nhs) == expected)
        }
        for origin in origins {
            #expect(
                try store.index.records(origin: origin, after: 25, limit: 10).map(\.sequence) == [26, 27, 28, 29, 30])
            #expect(
                try store.index.record(origin: origin, sequence: 7)
                    == records.first { $0.origin == origin && $0.sequence == 7 })
        }
        #expect(try store.index.digest() == [origins[0]: 30, origins[1]: 30])
        // Who holds study 1.2.5: each origin's latest record of it (sequence 29), newest first.
        #expect(try store.index.latestStudyRecords(studyUID: "1.2.5").map(\.sequence) == [29, 29])
        #expect(try store.index.latest(origin: origins[1], studyUID: "1.2.4")?.sequence == 28)
        // (origin, sequence) is still unique: a second record at a held place is not stored.
        let again = IndexRecord.Draft(
            origin: origins[0], sequence: 30, kind: .study, nhsNumber: patients[2], studyUID: "9.9",
            issuedAt: "2026-12-05T17:11:00Z"
        ).signed(by: IndexRecordReaderTests.key)
        #expect(try store.index.append([again]).isEmpty)
        #expect(try store.index.records(nhs: patients[2]).contains(again) == false)
    }
}

/// The running node's checkpoints: on a connection of their own, they copy the whole log while the
/// pool's own connections go on reading and writing.
@Suite struct CatalogueCheckpointTests {
    @Test func aCheckpointCopiesEveryCommittedFrameAndWritesGoOn() throws {
        let dir = try TemporaryDirectory()
        let store = try StudyStore(directory: dir.appending("store"))
        let nhs = try NHSNumber("9434765919")
        let origin = try TrustID("RRK")
        func record(_ sequence: Int) -> IndexRecord {
            IndexRecord.Draft(
                origin: origin, sequence: UInt64(sequence), kind: .study, nhsNumber: nhs, studyUID: "1.2.\(sequence)",
                issuedAt: "2026-12-05T17:10:00Z"
            ).signed(by: IndexRecordReaderTests.key)
        }
        try store.index.append((1...50).map(record))
        let first = try store.checkpointCatalogue()
        #expect(first.walFrameCount > 0 && first.checkpointedFrameCount == first.walFrameCount, "\(first)")
        // Writes and reads go on after it, and the next checkpoint copies them too.
        try store.index.append((51...60).map(record))
        #expect(try store.index.records(nhs: nhs).count == 60)
        let second = try store.checkpointCatalogue()
        #expect(second.checkpointedFrameCount == second.walFrameCount, "\(second)")
        #expect(try StudyStore(directory: dir.appending("store")).index.digest() == [origin: 60])
    }
}
