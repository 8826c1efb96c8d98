import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel

@Suite struct CareRelationshipTests {
    /// The same fixed keys as IndexRecordTests, so the signature is pinned too.
    static let key = try! SigningKey(seed: Array(1...32))
    static let otherKey = try! SigningKey(seed: Array(repeating: 0x42, count: 32))

    /// The clinician of the fixed relationship, as RRK's identity provider signed her in.
    static func patel() throws -> Person {
        Person(
            issuer: "https://idp.rrk.example/oidc", subject: "910000000001", name: "Dr Aisha Patel",
            roleCode: "S8000:G8000:R8000", organisation: try TrustID("RRK"), registration: "GMC 7654321")
    }

    /// One relationship with every field present (an emergency, so it has a justification); its
    /// bytes are pinned below and in the CanonicalEncoding article.
    static func fixedDraft() throws -> CareRelationship.Draft {
        CareRelationship.Draft(
            id: "3f2b8c1e-5d4a-4e6b-9c7d-1a2b3c4d5e6f", trust: try TrustID("RRK"),
            nhsNumber: try NHSNumber("9434765919"), clinician: "Dr Aisha Patel", clinicianIdentity: try patel(),
            kind: .emergency, reason: "Attended the emergency department with chest pain",
            start: "2026-11-25T09:00:00Z", expiry: "2026-11-28T09:00:00Z",
            justification: "Unconscious on arrival; prior CT needed to rule out aortic dissection")
    }

    @Test func signedRelationshipVerifiesWithTheCaringTrustsKey() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        try care.verify(with: Self.key.verifyingKey)
        #expect(care.draft == (try Self.fixedDraft()))
        #expect(care.startDate == Date(timeIntervalSince1970: 1_795_597_200))
        #expect(care.expiryDate == Date(timeIntervalSince1970: 1_795_856_400))
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
            ("kind", { $0.kind = .admission }),
            ("start", { $0.start = "2026-11-25T09:00:01Z" }),
            ("expiry", { $0.expiry = "2027-12-31T23:59:59Z" }),
            ("expiry nil", { $0.expiry = nil }),
            ("clinicianIdentity nil", { $0.clinicianIdentity = nil }),
            ("clinicianIdentity.issuer", { $0.clinicianIdentity?.issuer = "https://idp.evil.example/oidc" }),
            ("clinicianIdentity.subject", { $0.clinicianIdentity?.subject = "910000000002" }),
            ("clinicianIdentity.name", { $0.clinicianIdentity?.name = "Dr Aisha Patell" }),
            ("clinicianIdentity.roleCode", { $0.clinicianIdentity?.roleCode = "S8000:G8000:R8001" }),
            ("clinicianIdentity.organisation", { $0.clinicianIdentity?.organisation = try TrustID("RQ3") }),
            ("clinicianIdentity.registration", { $0.clinicianIdentity?.registration = "GMC 7654322" }),
            ("clinicianIdentity.registration nil", { $0.clinicianIdentity?.registration = nil }),
            ("reason", { $0.reason = "Attended the emergency department with chest pains" }),
            ("justification", { $0.justification = "Unconscious on arrival" }),
            ("justification nil", { $0.justification = nil }),
            // Moving text between adjacent fields must change the bytes too (lengths are encoded).
            (
                "issuer/subject boundary",
                {
                    $0.clinicianIdentity?.issuer = "https://idp.rrk.example/oidc9"
                    $0.clinicianIdentity?.subject = "10000000001"
                }
            ),
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
        let encoded = try JSONEncoder().encode(care)
        let decoded = try JSONDecoder().decode(CareRelationship.self, from: encoded)
        #expect(decoded == care)
        #expect(decoded.clinicianIdentity == (try Self.patel()))
        #expect(decoded.reason == "Attended the emergency department with chest pain")
        #expect(decoded.justification?.hasPrefix("Unconscious") == true)
        try decoded.verify(with: Self.key.verifyingKey)
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "id", "trust", "nhsNumber", "clinician", "clinicianIdentity", "kind", "reason", "start", "expiry",
                "justification", "signature",
            ])
        let identity = try #require(object["clinicianIdentity"] as? [String: Any])
        #expect(Set(identity.keys) == ["issuer", "subject", "name", "roleCode", "organisation", "registration"])
        #expect(identity["organisation"] as? String == "RRK")

        // Absent optional fields are absent keys, and still verify: a local operator's referral.
        var open = try Self.fixedDraft()
        open.expiry = nil
        open.kind = .referral
        open.justification = nil
        open.clinicianIdentity = nil
        open.clinician = "operating-system user alice (local operator)"
        let signedOpen = open.signed(by: Self.key)
        let json = String(decoding: try JSONEncoder().encode(signedOpen), as: UTF8.self)
        #expect(!json.contains("expiry") && !json.contains("justification") && !json.contains("clinicianIdentity"))
        let decodedOpen = try JSONDecoder().decode(CareRelationship.self, from: Data(json.utf8))
        #expect(decodedOpen.expiry == nil && decodedOpen.clinicianIdentity == nil && decodedOpen.justification == nil)
        try decodedOpen.verify(with: Self.key.verifyingKey)
    }

    @Test func relationshipAlteredInItsJSONFormIsRefused() throws {
        let care = try Self.fixedDraft().signed(by: Self.key)
        let json = String(decoding: try JSONEncoder().encode(care), as: UTF8.self)
        // Each new field, tampered with in transit: the relationship still decodes, and does not verify.
        for (from, to) in [
            ("2026-11-28T09:00:00Z", "2027-12-31T23:59:59Z"), ("910000000001", "910000000009"),
            ("https:\\/\\/idp.rrk.example", "https:\\/\\/idp.evil.example"), ("S8000:G8000:R8000", "S8000:G8000:R8003"),
            ("GMC 7654321", "GMC 1234567"), ("with chest pain", "with back pain"),
            ("rule out aortic dissection", "rule out a stroke"),
        ] {
            let altered = json.replacingOccurrences(of: from, with: to)
            #expect(altered != json, "\(from)")
            let decoded = try JSONDecoder().decode(CareRelationship.self, from: Data(altered.utf8))
            #expect(throws: CryptoError.badSignature, "\(from)") { try decoded.verify(with: Self.key.verifyingKey) }
        }
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
            ("clinician not the identity's name", { $0.clinician = "Dr Someone Else" }),
            (
                "untrimmed identity name",
                {
                    $0.clinicianIdentity?.name = "Dr Aisha Patel "
                    $0.clinician = "Dr Aisha Patel "
                }
            ),
            ("long issuer", { $0.clinicianIdentity?.issuer = String(repeating: "i", count: 513) }),
            ("long subject", { $0.clinicianIdentity?.subject = String(repeating: "s", count: 513) }),
            ("long role code", { $0.clinicianIdentity?.roleCode = String(repeating: "R", count: 257) }),
            ("empty registration", { $0.clinicianIdentity?.registration = "" }),
            ("untrimmed registration", { $0.clinicianIdentity?.registration = "GMC 7654321 " }),
            ("empty reason", { $0.reason = "" }),
            ("untrimmed reason", { $0.reason = "chest pain\n" }),
            ("long reason", { $0.reason = String(repeating: "r", count: 501) }),
            ("emergency without justification", { $0.justification = nil }),
            ("empty justification", { $0.justification = "" }),
            ("untrimmed justification", { $0.justification = " urgent" }),
            ("long justification", { $0.justification = String(repeating: "j", count: 1001) }),
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
        longest.clinicianIdentity?.name = longest.clinician
        longest.reason = String(repeating: "é", count: 500)
        longest.justification = String(repeating: "é", count: 1000)
        let decoded = try JSONDecoder().decode(
            CareRelationship.self, from: try JSONEncoder().encode(longest.signed(by: Self.key)))
        #expect(decoded.clinician.count == 128)
        // Empty issuer and subject decode (the sharing policy refuses them by name, rule
        // careClinicianUnverified), and a relationship that is not an emergency needs no justification.
        var blank = good
        blank.clinicianIdentity?.issuer = ""
        blank.clinicianIdentity?.subject = ""
        blank.kind = .referral
        blank.justification = nil
        #expect(
            try JSONDecoder().decode(CareRelationship.self, from: try JSONEncoder().encode(blank.signed(by: Self.key)))
                .clinicianIdentity?.issuer == "")
    }

    /// Pins the canonical bytes: if this changes, every care relationship already signed breaks.
    /// Bump the domain's version instead, and document the new layout.
    @Test func canonicalBytesOfAFixedRelationshipArePinned() throws {
        let draft = try Self.fixedDraft()
        let bytes = draft.signedBytes
        #expect(Array(bytes.prefix(30)) == Array("TrustMesh/CareRelationship/v2".utf8) + [0])
        #expect(bytes.count == 409)
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
    // from the layout documented on CareRelationship.Draft.signedBytes (409 bytes), with the
    // care_relationship_message function of the CanonicalEncoding article.
    static let pinnedSignedBytesHex =
        "54727573744d6573682f4361726552656c6174696f6e736869702f7632000000002433663262386331652d356434612d"
        + "346536622d396337642d3161326233633464356536660000000352524b0000000a393433343736353931390000000e44"
        + "7220416973686120506174656c00000009656d657267656e637900000014323032362d31312d32355430393a30303a30"
        + "305a0100000014323032362d31312d32385430393a30303a30305a010000001c68747470733a2f2f6964702e72726b2e"
        + "6578616d706c652f6f6964630000000c3931303030303030303030310000000e447220416973686120506174656c0000"
        + "001153383030303a47383030303a52383030300000000352524b010000000b474d432037363534333231000000314174"
        + "74656e6465642074686520656d657267656e6379206465706172746d656e742077697468206368657374207061696e01"
        + "00000045556e636f6e7363696f7573206f6e206172726976616c3b207072696f72204354206e656564656420746f2072"
        + "756c65206f757420616f727469632064697373656374696f6e"
    static let pinnedSignedBytesBLAKE2b = "d8350d6b1fac5444bf9f4f43a17317a78780732249607703870353bf225b0a37"
    static let pinnedSignature =
        "RRp6iGYW3ImIIUS3S1PIGYE1At5ltHIGEyNxpp90L9umRVj1LMrRhpHFh3Bbt7SChoZcaX/FY+FdcM4/CdY2BA=="
}

private func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { byte in
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }.joined()
}
