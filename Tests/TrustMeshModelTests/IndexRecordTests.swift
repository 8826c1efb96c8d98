import Foundation
import Testing
import TrustMeshCrypto
import TrustMeshModel

@Suite struct IndexRecordTests {
    /// A fixed key (seed 0x01…0x20) so the signature, like the canonical bytes, is pinned.
    static let key = try! SigningKey(seed: Array(1...32))
    static let otherKey = try! SigningKey(seed: Array(repeating: 0x42, count: 32))

    /// One record with every field present; its bytes are pinned below and in the
    /// CanonicalEncoding article.
    static func fixedDraft() throws -> IndexRecord.Draft {
        IndexRecord.Draft(
            origin: try TrustID("RRK"), sequence: 42, kind: .study, nhsNumber: try NHSNumber("9434765919"),
            studyUID: "1.2.826.0.1.3680043.10.999.1", studyDate: "20260314", modalities: ["CT", "SR"],
            bodyParts: ["CHEST"], studyDescription: "CT Chest with contrast", accessionNumber: "RRK0001234",
            seriesCount: 3, instanceCount: 300, sizeBytes: 157_286_400,
            manifestHash: BLAKE2b256.hash(Array("manifest".utf8)), issuedAt: "2026-03-14T09:26:53Z")
    }

    @Test func signedRecordVerifiesWithTheOriginKey() throws {
        let record = try Self.fixedDraft().signed(by: Self.key)
        try record.verify(with: Self.key.verifyingKey)
        #expect(record.draft == (try Self.fixedDraft()))
    }

    @Test func recordVerifiedWithAnotherTrustsKeyIsRefused() throws {
        let record = try Self.fixedDraft().signed(by: Self.key)
        #expect(throws: CryptoError.badSignature) { try record.verify(with: Self.otherKey.verifyingKey) }
    }

    @Test func recordSignedByAnotherKeyInTheOriginsNameIsRefused() throws {
        let forged = try Self.fixedDraft().signed(by: Self.otherKey)
        #expect(throws: CryptoError.badSignature) { try forged.verify(with: Self.key.verifyingKey) }
    }

    @Test func everySignedFieldChangeBreaksVerification() throws {
        let record = try Self.fixedDraft().signed(by: Self.key)
        let edits: [(String, (inout IndexRecord.Draft) throws -> Void)] = [
            ("origin", { $0.origin = try TrustID("RQ3") }),
            ("sequence", { $0.sequence += 1 }),
            ("kind", { $0.kind = .withdrawn }),
            ("nhsNumber", { $0.nhsNumber = try NHSNumber("4010232137") }),
            ("studyUID", { $0.studyUID = "1.2.826.0.1.3680043.10.999.2" }),
            ("studyUID nil", { $0.studyUID = nil }),
            ("studyDate", { $0.studyDate = "20260315" }),
            ("modalities", { $0.modalities = ["CT"] }),
            ("modalities order", { $0.modalities = ["SR", "CT"] }),
            ("bodyParts", { $0.bodyParts = ["HEAD"] }),
            ("studyDescription", { $0.studyDescription = "CT Chest" }),
            ("studyDescription empty", { $0.studyDescription = "" }),
            ("accessionNumber", { $0.accessionNumber = nil }),
            ("seriesCount", { $0.seriesCount = 4 }),
            ("instanceCount", { $0.instanceCount = 301 }),
            ("sizeBytes", { $0.sizeBytes += 1 }),
            ("manifestHash", { $0.manifestHash = BLAKE2b256.hash(Array("other".utf8)) }),
            ("manifestHash nil", { $0.manifestHash = nil }),
            ("issuedAt", { $0.issuedAt = "2026-03-14T09:26:54Z" }),
        ]
        for (field, edit) in edits {
            var draft = record.draft
            try edit(&draft)
            let tampered = IndexRecord(draft: draft, signature: record.signature)
            #expect(tampered.signedBytes != record.signedBytes, "\(field)")
            #expect(throws: CryptoError.badSignature, "\(field)") { try tampered.verify(with: Self.key.verifyingKey) }
        }
    }

    @Test func lengthPrefixesKeepNeighbouringFieldsApart() throws {
        // Moving bytes from one string to the next must change the message.
        var first = try Self.fixedDraft()
        first.modalities = ["CTS", "R"]
        var second = try Self.fixedDraft()
        second.modalities = ["CT", "SR"]
        #expect(first.signedBytes != second.signedBytes)
        first.studyDescription = nil
        first.accessionNumber = "X"
        second = first
        second.studyDescription = "X"
        second.accessionNumber = nil
        #expect(first.signedBytes != second.signedBytes)
    }

    @Test func canonicalEncoderWritesTheDocumentedBytes() throws {
        var encoder = CanonicalEncoder(domain: "T/v1")
        encoder.append(UInt64(0x0102_0304_0506_0708))
        encoder.append(-2)
        encoder.append("é")
        encoder.append(optional: nil as String?)
        encoder.append(optional: "A")
        encoder.append(["B", ""])
        encoder.append(bytes: [0xFF])
        let expected: [UInt8] =
            [0x54, 0x2F, 0x76, 0x31, 0x00]  // "T/v1" NUL
            + [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]  // UInt64 big-endian
            + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]  // Int -2, two's complement
            + [0x00, 0x00, 0x00, 0x02, 0xC3, 0xA9]  // "é": UTF-8 length 2
            + [0x00]  // absent optional
            + [0x01, 0x00, 0x00, 0x00, 0x01, 0x41]  // present "A"
            + [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x42, 0x00, 0x00, 0x00, 0x00]  // ["B", ""]
            + [0x00, 0x00, 0x00, 0x01, 0xFF]  // raw bytes
        #expect(encoder.bytes == expected)
    }

    /// Pins the canonical bytes: if this changes, every signature in every deployed log breaks. Bump
    /// the domain's version instead, and document the new layout.
    @Test func canonicalBytesOfAFixedRecordArePinned() throws {
        let draft = try Self.fixedDraft()
        let bytes = draft.signedBytes
        #expect(Array(bytes.prefix(25)) == Array("TrustMesh/IndexRecord/v1".utf8) + [0])
        #expect(hex(bytes) == Self.pinnedSignedBytesHex)
        #expect(BLAKE2b256.hash(bytes).hex == Self.pinnedSignedBytesBLAKE2b)
        #expect(draft.signed(by: Self.key).signature.base64 == Self.pinnedSignature)
    }

    @Test func jsonRoundTripKeepsTheSignatureValid() throws {
        let record = try Self.fixedDraft().signed(by: Self.key)
        let json = try JSONEncoder().encode(record)
        let decoded = try JSONDecoder().decode(IndexRecord.self, from: json)
        #expect(decoded == record)
        #expect(decoded.signedBytes == record.signedBytes)
        try decoded.verify(with: Self.key.verifyingKey)

        var optOut = try Self.fixedDraft()
        optOut.kind = .optOut
        optOut.studyUID = nil
        optOut.manifestHash = nil
        let signedOptOut = optOut.signed(by: Self.key)
        let decodedOptOut = try JSONDecoder().decode(
            IndexRecord.self, from: try JSONEncoder().encode(signedOptOut))
        #expect(decodedOptOut.studyUID == nil)
        try decodedOptOut.verify(with: Self.key.verifyingKey)
    }

    @Test func recordAlteredInItsJSONFormIsRefused() throws {
        let record = try Self.fixedDraft().signed(by: Self.key)
        let json = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        let altered = json.replacingOccurrences(of: "157286400", with: "157286401")
        #expect(altered != json)
        let decoded = try JSONDecoder().decode(IndexRecord.self, from: Data(altered.utf8))
        #expect(throws: CryptoError.badSignature) { try decoded.verify(with: Self.key.verifyingKey) }
    }

    // Computed independently with Python's struct, hashlib and the cryptography package's Ed25519
    // from the layout documented on CanonicalEncoder and IndexRecord.Draft.signedBytes (265 bytes).
    static let pinnedSignedBytesHex =
        "54727573744d6573682f496e6465785265636f72642f7631000000000352524b000000000000002a0000000573747564"
        + "790000000a39343334373635393139010000001c312e322e3832362e302e312e333638303034332e31302e3939392e31"
        + "010000000832303236303331340000000200000002435400000002535200000001000000054348455354010000001643"
        + "54204368657374207769746820636f6e7472617374010000000a52524b30303031323334000000000000000300000000"
        + "0000012c000000000960000001000000208b6e7766e928c733124c2c55fe5b285c64e6ecfcc2f112c9ab82968491335e"
        + "cf00000014323032362d30332d31345430393a32363a35335a"
    static let pinnedSignedBytesBLAKE2b = "1215270f4d59c3cd28d4aab1143cea843dceefa2ef993deb9bdaf771ceb402f6"
    static let pinnedSignature =
        "B0mfZodr56voeEAXIej8zyfdJNrFBrWTw/jSoHxl5RUfLu8T+n/1uc19SRShWOll4i3UJL547IVFDfApIblGBQ=="
}

private func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
