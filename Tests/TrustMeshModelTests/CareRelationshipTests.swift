import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel

@Suite struct CareRelationshipTests {
    /// The same fixed keys as IndexRecordTests, so the signature is pinned too.
    static let key = try! SigningKey(seed: Array(1...32))
    static let otherKey = try! SigningKey(seed: Array(repeating: 0x42, count: 32))

    /// One relationship with every field present; its bytes are pinned below and in the
    /// CanonicalEncoding article.
    static func fixedDraft() throws -> CareRelationship.Draft {
        CareRelationship.Draft(
            id: "3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f", trust: try TrustID("RRK"),
            nhsNumber: try NHSNumber("9434765919"), clinician: "Dr Aisha Patel", kind: .admission,
            start: "2026-11-25T09:00:00Z", expiry: "2026-12-31T23:59:59Z")
    }

    @Test func signedRelationshipVerifiesWithTheCaringTrustsKey() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        try care.verify(with: Self.key.verifyingKey)
        #expect(care.draft == (try Self.fixedDraft()))
        #expect(care.startDate == Date(timeIntervalSince1970: 1_795_597_200))
        #expect(care.expiryDate == Date(timeIntervalSince1970: 1_798_761_599))
    }

    @Test func relationshipVerifiedWithAnotherTrustsKeyIsRefused() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        #expect(throws: CryptoError.badSignature) { try care.verify(with: Self.otherKey.verifyingKey) }
        let forged = try Self.fixedDraft().signed(by: Self.otherKey)
        #expect(throws: CryptoError.badSignature) { try forged.verify(with: Self.key.verifyingKey) }
    }

    @Test func everySignedFieldChangeBreaksVerification() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        let edits: [(String, (inout CareRelationship.Draft) throws -> Void)] = [
            ("id", { $0.id = "3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e70" }),
            ("trust", { $0.trust = try TrustID("RQ3") }),
            ("nhsNumber", { $0.nhsNumber = try NHSNumber("4010232137") }),
            ("clinician", { $0.clinician = "Dr Aisha Patell" }),
            ("kind", { $0.kind = .emergency }),
            ("start", { $0.start = "2026-11-25T09:00:01Z" }),
            ("expiry", { $0.expiry = "2027-12-31T23:59:59Z" }),
            ("expiry nil", { $0.expiry = nil }),
        ]
        for (field, edit) in edits {
            var draft = care.draft
            try edit(&draft)
            let tampered = CareRelationship(draft: draft, signature: care.signature)
            #expect(tampered.signedBytes != care.signedBytes, "\(field)")
            #expect(throws: CryptoError.badSignature, "\(field)") { try tampered.verify(with: Self.key.verifyingKey) }
        }
        // Every kind signs differently.
        let kinds = try CareRelationship.Kind.allCases.map { kind in
            var draft = try Self.fixedDraft()
            draft.kind = kind
            return draft.signedBytes
        }
        #expect(Set(kinds).count == CareRelationship.Kind.allCases.count)
    }

    @Test func jsonRoundTripKeepsTheSignatureValid() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        let decoded = try JSONDecoder().decode(CareRelationship.self, from: try JSONEncoder().encode(care))
        #expect(decoded == care)
        try decoded.verify(with: Self.key.verifyingKey)

        var open = try Self.fixedDraft()
        open.expiry = nil
        let signedOpen = open.signed(by: Self.key)
        let json = String(decoding: try JSONEncoder().encode(signedOpen), as: UTF8.self)
        #expect(!json.contains("expiry"))
        let decodedOpen = try JSONDecoder().decode(CareRelationship.self, from: Data(json.utf8))
        #expect(decodedOpen.expiry == nil)
        try decodedOpen.verify(with: Self.key.verifyingKey)
    }

    @Test func relationshipAlteredInItsJSONFormIsRefused() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        let json = String(decoding: try JSONEncoder().encode(care), as: UTF8.self)
        let altered = json.replacingOccurrences(of: "2026-12-31T23:59:59Z", with: "2027-12-31T23:59:59Z")
        #expect(altered != json)
        let decoded = try JSONDecoder().decode(CareRelationship.self, from: Data(altered.utf8))
        #expect(throws: CryptoError.badSignature) { try decoded.verify(with: Self.key.verifyingKey) }
    }

    @Test func decodingRefusesFieldsOutsideTheirDocumentedForms() throws {
        let good = try Self.fixedDraft()
        let bad: [(String, (inout CareRelationship.Draft) -> Void)] = [
            ("upper-case id", { $0.id = $0.id.uppercased() }),
            ("short id", { $0.id = "3f2b8c1e" }),
            ("empty clinician", { $0.clinician = "" }),
            ("untrimmed clinician", { $0.clinician = " Dr Aisha Patel" }),
            ("long clinician", { $0.clinician = String(repeating: "a", count: 129) }),
            ("start with offset", { $0.start = "2026-11-25T09:00:00+00:00" }),
            ("start with fraction", { $0.start = "2026-11-25T09:00:00.5Z" }),
            ("date-only start", { $0.start = "2026-11-25" }),
            ("expiry on 31 November", { $0.expiry = "2026-11-31T23:59:59Z" }),
        ]
        for (label, edit) in bad {
            var draft = good
            edit(&draft)
            let json = try JSONEncoder().encode(draft.signed(by: Self.key))
            #expect(throws: DecodingError.self, "\(label)") {
                try JSONDecoder().decode(CareRelationship.self, from: json)
            }
        }
        var longest = good
        longest.clinician = String(repeating: "é", count: 128)
        let decoded = try JSONDecoder().decode(
            CareRelationship.self, from: try JSONEncoder().encode(longest.signed(by: Self.key)))
        #expect(decoded.clinician.count == 128)
    }

    /// Pins the canonical bytes: if this changes, every care relationship already signed breaks.
    /// Bump the domain's version instead, and document the new layout.
    @Test func canonicalBytesOfAFixedRelationshipArePinned() throws {
        let draft = try Self.fixedDraft()
        let bytes = draft.signedBytes
        #expect(Array(bytes.prefix(30)) == Array("TrustMesh/CareRelationship/v1".utf8) + [0])
        #expect(bytes.count == 171)
        #expect(hexString(bytes) == Self.pinnedSignedBytesHex)
        #expect(BLAKE2b256.hash(bytes).hex == Self.pinnedSignedBytesBLAKE2b)
        #expect(draft.signed(by: Self.key).signature.base64 == Self.pinnedSignature)
    }

    @Test func careTimeReadsAndWritesOnlyTheDocumentedForm() throws {
        #expect(CareTime.parse("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
        #expect(CareTime.parse("2024-02-29T12:34:56Z") == Date(timeIntervalSince1970: 1_709_210_096))
        #expect(CareTime.parse("1969-12-31T23:59:59Z") == Date(timeIntervalSince1970: -1))
        for bad in [
            "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z",
            "2026-01-01 00:00:00Z", "+026-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "0000-01-01T00:00:00Z", "",
            "２０２６-01-01T00:00:00Z",
        ] {
            #expect(CareTime.parse(bad) == nil, "\(bad)")
        }
        #expect(CareTime.parseExpiry("2026-12-31") == CareTime.parse("2026-12-31T23:59:59Z"))
        #expect(CareTime.parseExpiry(" 2026-12-31 ") == CareTime.parse("2026-12-31T23:59:59Z"))
        #expect(CareTime.parseExpiry("2026-12-31T08:00:00Z") == CareTime.parse("2026-12-31T08:00:00Z"))
        #expect(CareTime.parseExpiry("31/12/2026") == nil)
        #expect(CareTime.parseExpiry("2026-02-30") == nil)

        #expect(CareTime.format(Date(timeIntervalSince1970: 1_795_597_200.75)) == "2026-11-25T09:00:00Z")
        #expect(CareTime.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59Z")
        // Every day for 1,200 years round-trips, leap days and century rules included.
        var mismatches: [Int64] = []
        for day in Int64(-146_097 * 2)..<146_097 {
            let seconds = day * 86_400 + 45_296
            let text = CareTime.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
            if CareTime.parse(text) != Date(timeIntervalSince1970: TimeInterval(seconds)) { mismatches.append(day) }
        }
        #expect(mismatches.isEmpty)
        // Agrees with Foundation's formatter.
        let formatter = ISO8601DateFormatter()
        for seconds in stride(from: -2_000_000_000, through: 4_000_000_000, by: 7_777_777) {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            #expect(CareTime.format(date) == formatter.string(from: date))
        }
    }

    // Computed independently with Python's struct, hashlib and the cryptography package's Ed25519
    // from the layout documented on CareRelationship.Draft.signedBytes (171 bytes).
    static let pinnedSignedBytesHex =
        "54727573744d6573682f4361726552656c6174696f6e736869702f7631000000002433663262386331652d356434612d"
        + "346536622d396337642d3161326233633464356536660000000352524b0000000a393433343736353931390000000e44"
        + "7220416973686120506174656c0000000961646d697373696f6e00000014323032362d31312d32355430393a30303a30"
        + "305a0100000014323032362d31322d33315432333a35393a35395a"
    static let pinnedSignedBytesBLAKE2b = "43679c4d3ea6e570b46bb97d4fe715b4851c07b1662af34f35a4d701bf89afc4"
    static let pinnedSignature =
        "YqW7Uxb8hKkuZR/Jf2EJlSi0+mSNAsk8O7lJl8ZS60AX5QD+nFd2Vdq+K4eIN5B62/Tlq2jLU8f9QbBmFmtBCQ=="
}

private func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }.joined()
}
