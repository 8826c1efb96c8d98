import Testing
import TrustMeshCrypto

@Suite("Ed25519 signatures")
struct Ed25519Tests {
    @Test("RFC 8032 §7.1 vector gives the published key and signature", arguments: rfc8032Vectors)
    func seedGivesPublishedKeyAndSignature(vector: RFC8032Vector) throws {
        let key = try SigningKey(seed: bytes(hex: vector.seed))
        #expect(hexString(key.verifyingKey.rawBytes) == vector.publicKey)

        let message = bytes(hex: vector.message)
        let signature = key.sign(message)
        #expect(hexString(signature.rawBytes) == vector.signature)

        let published = try VerifyingKey(rawBytes: bytes(hex: vector.publicKey))
        try published.verify(try Signature(rawBytes: bytes(hex: vector.signature)), for: message)
    }

    @Test("a flipped bit in the message is refused", arguments: rfc8032Vectors)
    func flippedMessageBitIsRefused(vector: RFC8032Vector) throws {
        let key = try VerifyingKey(rawBytes: bytes(hex: vector.publicKey))
        let signature = try Signature(rawBytes: bytes(hex: vector.signature))
        var message = bytes(hex: vector.message)
        if message.isEmpty {
            message = [0x01]  // appending a byte is the only change to an empty message
        } else {
            message[message.count / 2] ^= 0x01
        }
        #expect(throws: CryptoError.badSignature) { try key.verify(signature, for: message) }
    }

    @Test("a flipped bit anywhere in the signature is refused")
    func flippedSignatureBitIsRefused() throws {
        let vector = rfc8032Vectors[2]
        let key = try VerifyingKey(rawBytes: bytes(hex: vector.publicKey))
        let message = bytes(hex: vector.message)
        let good = bytes(hex: vector.signature)
        for index in [0, 31, 32, 63] {
            var tampered = good
            tampered[index] ^= 0x80
            let signature = try Signature(rawBytes: tampered)
            #expect(throws: CryptoError.badSignature) { try key.verify(signature, for: message) }
        }
    }

    @Test func signatureFromAnotherKeyIsRefused() throws {
        let message = Array("study manifest".utf8)
        let signature = SigningKey().sign(message)
        #expect(throws: CryptoError.badSignature) {
            try SigningKey().verifyingKey.verify(signature, for: message)
        }
    }

    @Test func randomKeysSignAndVerifyBothOverloads() throws {
        let key = SigningKey()
        let message = Random.bytes(1000)
        let signature = key.sign(message)
        try message.withUnsafeBytes { try key.verifyingKey.verify(signature, for: $0) }
        #expect(message.withUnsafeBytes { key.sign($0) } == signature)
    }

    @Test func wrongLengthsAreRefused() {
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, actual: 31)) {
            try SigningKey(seed: [UInt8](repeating: 0, count: 31))
        }
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, actual: 33)) {
            try VerifyingKey(rawBytes: [UInt8](repeating: 0, count: 33))
        }
        #expect(throws: CryptoError.invalidLength(expected: 64, actual: 63)) {
            try Signature(rawBytes: [UInt8](repeating: 0, count: 63))
        }
    }

    @Test func keysAndSignaturesRoundTripThroughBase64AndCodable() throws {
        let vector = rfc8032Vectors[0]
        let key = try VerifyingKey(rawBytes: bytes(hex: vector.publicKey))
        #expect(key.base64 == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
        #expect(key.description == key.base64)
        #expect(try VerifyingKey(base64: key.base64) == key)

        let signature = try Signature(rawBytes: bytes(hex: vector.signature))
        #expect(try Signature(base64: signature.base64) == signature)

        let json = try JSONRoundTrip.encode([key])
        #expect(try JSONRoundTrip.decode([String].self, from: json) == ["11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="])
        #expect(try JSONRoundTrip.decode([VerifyingKey].self, from: json) == [key])
        #expect(try JSONRoundTrip.decode([Signature].self, from: JSONRoundTrip.encode([signature])) == [signature])
    }

    @Test func malformedBase64IsRefused() {
        #expect(throws: CryptoError.invalidEncoding(reason: "not valid base64")) {
            try VerifyingKey(base64: "not base64!")
        }
        // Valid base64 of the wrong length.
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, actual: 3)) {
            try VerifyingKey(base64: "AAEC")
        }
        #expect(throws: (any Error).self) {
            try JSONRoundTrip.decode([VerifyingKey].self, from: "[\"AAEC\"]")
        }
    }

    @Test func signingKeyNeverPrintsItsSecret() {
        let key = SigningKey()
        #expect(key.description == "<redacted>")
        #expect(String(describing: key) == "<redacted>")
        #expect(String(reflecting: key) == "<redacted>")
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains(key.verifyingKey.base64))
    }
}
