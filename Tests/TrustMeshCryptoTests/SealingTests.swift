import Testing
import TrustMeshCrypto

@Suite("Sealed boxes")
struct SealedBoxTests {
    @Test(arguments: [0, 1, 100, 70_000])
    func sealedBoxRoundTrips(count: Int) throws {
        let recipient = AgreementKey()
        let message = Random.bytes(count)
        let box = recipient.publicKey.seal(message)
        #expect(box.count == count + AgreementPublicKey.sealOverhead)
        #expect(try recipient.openSealed(box) == message)
    }

    @Test func tamperedSealedBoxIsRefused() throws {
        let recipient = AgreementKey()
        let box = recipient.publicKey.seal(Array("per-transfer key".utf8))
        for index in [0, 31, 32, 47, box.count - 1] {
            var tampered = box
            tampered[index] ^= 0x01
            #expect(throws: CryptoError.authenticationFailed) { try recipient.openSealed(tampered) }
        }
        #expect(throws: CryptoError.authenticationFailed) { try recipient.openSealed(Array(box.dropLast())) }
        #expect(throws: CryptoError.authenticationFailed) { try recipient.openSealed([]) }
    }

    @Test func boxSealedToAnotherKeyIsRefused() {
        let box = AgreementKey().publicKey.seal([1, 2, 3])
        #expect(throws: CryptoError.authenticationFailed) { try AgreementKey().openSealed(box) }
    }

    @Test func lowOrderPublicKeysAreRefused() throws {
        // 0 and 1 are points of small order on Curve25519 (RFC 7748 §6.1 says to check for an all-zero output).
        var one = [UInt8](repeating: 0, count: 32)
        one[0] = 1
        #expect(throws: CryptoError.invalidPublicKey) {
            try AgreementPublicKey(rawBytes: [UInt8](repeating: 0, count: 32))
        }
        #expect(throws: CryptoError.invalidPublicKey) { try AgreementPublicKey(rawBytes: one) }
        let real = AgreementKey().publicKey
        #expect(try AgreementPublicKey(rawBytes: real.rawBytes) == real)
        #expect(try AgreementPublicKey(base64: real.base64) == real)
        #expect(try JSONRoundTrip.decode([AgreementPublicKey].self, from: JSONRoundTrip.encode([real])) == [real])
    }

    @Test func agreementKeyNeverPrintsItsSecret() {
        #expect(AgreementKey().description == "<redacted>")
    }
}

@Suite("XChaCha20-Poly1305")
struct XChaCha20Poly1305Tests {
    /// draft-irtf-cfrg-xchacha-03 §A.3.1, also recomputed with Python (HChaCha20 + `cryptography`'s
    /// ChaCha20Poly1305).
    @Test func matchesDraftKnownAnswer() throws {
        let key = try SymmetricKey(bytes: (0x80...0x9f).map { UInt8($0) })
        let nonce = (0x40...0x57).map { UInt8($0) }
        let associatedData = bytes(hex: "50515253c0c1c2c3c4c5c6c7")
        let plaintext = Array(
            ("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
                + "sunscreen would be it.").utf8)
        let expected = bytes(
            hex: [
                "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb",
                "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452",
                "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9",
                "21f9664c97637da9768812f615c68b13b52e",
                "c0875924c1c7987947deafd8780acf49",  // tag
            ].joined())
        let sealed = try XChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, associatedData: associatedData)
        #expect(sealed == expected)
        #expect(try XChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: associatedData) == plaintext)
        // The nonce-prefixed form is the same bytes after the nonce.
        #expect(try XChaCha20Poly1305.open(nonce + sealed, key: key, associatedData: associatedData) == plaintext)
    }

    @Test(arguments: [0, 1, 4096, 300_000])
    func roundTripsWithRandomNonce(count: Int) throws {
        let key = SymmetricKey()
        let plaintext = Random.bytes(count)
        let associatedData = Array("chunk 7".utf8)
        let box = XChaCha20Poly1305.seal(plaintext, key: key, associatedData: associatedData)
        #expect(box.count == XChaCha20Poly1305.nonceByteCount + count + XChaCha20Poly1305.tagByteCount)
        #expect(try XChaCha20Poly1305.open(box, key: key, associatedData: associatedData) == plaintext)
        // Two seals of the same plaintext differ: fresh nonces.
        #expect(XChaCha20Poly1305.seal(plaintext, key: key, associatedData: associatedData) != box)
    }

    @Test func tamperingIsRefused() throws {
        let key = SymmetricKey()
        let associatedData = Array("header".utf8)
        let box = XChaCha20Poly1305.seal(Array("patient data".utf8), key: key, associatedData: associatedData)
        let nonceCount = XChaCha20Poly1305.nonceByteCount
        for index in [0, nonceCount - 1, nonceCount, box.count - 1] {  // nonce, ciphertext, tag
            var tampered = box
            tampered[index] ^= 0x01
            #expect(throws: CryptoError.authenticationFailed) {
                try XChaCha20Poly1305.open(tampered, key: key, associatedData: associatedData)
            }
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(box, key: key, associatedData: Array("headex".utf8))
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(box, key: key)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(box, key: SymmetricKey(), associatedData: associatedData)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(Array(box.prefix(nonceCount + 15)), key: key, associatedData: associatedData)
        }
    }

    @Test func sealingAndOpeningInCallerMemoryMatchTheArrayForms() throws {
        let key = SymmetricKey()
        let nonce = Random.bytes(XChaCha20Poly1305.nonceByteCount)
        let plaintext = Random.bytes(70_000)
        let associatedData = Array("transfer|hash".utf8)
        var sealed = [UInt8](repeating: 0, count: plaintext.count + XChaCha20Poly1305.tagByteCount)
        try plaintext.withUnsafeBytes { plain in
            try sealed.withUnsafeMutableBytes {
                try XChaCha20Poly1305.seal(plain, key: key, nonce: nonce, associatedData: associatedData, into: $0)
            }
        }
        #expect(try XChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: associatedData) == plaintext)

        func open(_ box: [UInt8], into output: inout [UInt8]) throws -> Int {
            try box.withUnsafeBytes { boxBytes in
                try nonce.withUnsafeBytes { nonceBytes in
                    try output.withUnsafeMutableBytes {
                        try XChaCha20Poly1305.open(
                            boxBytes, key: key, nonce: nonceBytes, associatedData: associatedData, into: $0)
                    }
                }
            }
        }
        var output = [UInt8](repeating: 0, count: plaintext.count)
        #expect(try open(sealed, into: &output) == plaintext.count)
        #expect(output == plaintext)

        var tampered = sealed
        tampered[100] ^= 1
        var untouched = [UInt8](repeating: 0xAB, count: plaintext.count)
        #expect(throws: CryptoError.authenticationFailed) { try open(tampered, into: &untouched) }
        #expect(untouched.allSatisfy { $0 == 0 }, "no unauthenticated plaintext is released: libsodium zeroes it")
        #expect(throws: CryptoError.authenticationFailed) { try open(Array(sealed.prefix(15)), into: &untouched) }
    }

    @Test func explicitNonceTamperingIsRefused() throws {
        let key = SymmetricKey()
        let nonce = Random.bytes(XChaCha20Poly1305.nonceByteCount)
        let sealed = try XChaCha20Poly1305.seal([1, 2, 3], key: key, nonce: nonce, associatedData: [9])
        var otherNonce = nonce
        otherNonce[5] ^= 0x10
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(sealed, key: key, nonce: otherNonce, associatedData: [9])
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(sealed, key: key, nonce: nonce, associatedData: [8])
        }
        #expect(throws: CryptoError.invalidLength(expected: 24, actual: 12)) {
            try XChaCha20Poly1305.seal([1], key: key, nonce: Array(nonce.prefix(12)))
        }
    }

    @Test func keysOfTheWrongLengthAreRefused() {
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, actual: 16)) {
            try SymmetricKey(bytes: [UInt8](repeating: 7, count: 16))
        }
    }
}

@Suite("Key exchange")
struct KeyExchangeTests {
    @Test func clientAndServerDeriveMatchingKeys() throws {
        let client = KeyExchangeKeyPair()
        let server = KeyExchangeKeyPair()
        let clientKeys = try KeyExchange.clientSessionKeys(client: client, serverPublicKey: server.publicKey)
        let serverKeys = try KeyExchange.serverSessionKeys(server: server, clientPublicKey: client.publicKey)
        #expect(clientKeys.tx == serverKeys.rx)
        #expect(clientKeys.rx == serverKeys.tx)
        #expect(clientKeys.rx != clientKeys.tx)

        let box = XChaCha20Poly1305.seal(Array("chunk".utf8), key: clientKeys.tx)
        #expect(try XChaCha20Poly1305.open(box, key: serverKeys.rx) == Array("chunk".utf8))
    }

    @Test func aThirdPartyDerivesDifferentKeys() throws {
        let client = KeyExchangeKeyPair()
        let server = KeyExchangeKeyPair()
        let eavesdropper = KeyExchangeKeyPair()
        let real = try KeyExchange.clientSessionKeys(client: client, serverPublicKey: server.publicKey)
        let fake = try KeyExchange.serverSessionKeys(server: eavesdropper, clientPublicKey: client.publicKey)
        #expect(real.tx != fake.rx)
    }

    @Test func badPeerKeysAreRefused() {
        let client = KeyExchangeKeyPair()
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, actual: 5)) {
            try KeyExchange.clientSessionKeys(client: client, serverPublicKey: [1, 2, 3, 4, 5])
        }
        #expect(throws: CryptoError.invalidPublicKey) {
            try KeyExchange.serverSessionKeys(server: client, clientPublicKey: [UInt8](repeating: 0, count: 32))
        }
        #expect(client.description == "<redacted>")
    }
}

@Suite("Secrets")
struct SecretTests {
    @Test func secretBytesAreRedactedAndCompareByContent() {
        let secret = SecretBytes(copying: [1, 2, 3])
        #expect(secret.description == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect("\(secret)" == "<redacted>")
        #expect(secret == SecretBytes(copying: [1, 2, 3]))
        #expect(secret != SecretBytes(copying: [1, 2, 4]))
        #expect(secret != SecretBytes(copying: [1, 2]))
        #expect(SecretBytes(copying: []) == SecretBytes(copying: []))
        #expect(secret.withUnsafeBytes { Array($0) } == [1, 2, 3])
        #expect(secret.count == 3)
    }

    @Test func symmetricKeyIsRedactedAndComparesByContent() throws {
        let key = SymmetricKey()
        #expect(key.description == "<redacted>")
        let bytes = key.withUnsafeBytes { Array($0) }
        #expect(try SymmetricKey(bytes: bytes) == key)  // another instance, same bytes
        var flipped = bytes
        flipped[flipped.count - 1] ^= 1
        #expect(try SymmetricKey(bytes: flipped) != key)  // one bit apart, in the last byte
        #expect(key != SymmetricKey())
    }

    @Test func randomBytesHaveTheRequestedLengthAndDiffer() {
        #expect(Random.bytes(0).isEmpty)
        #expect(Random.bytes(33).count == 33)
        #expect(Random.bytes(32) != Random.bytes(32))
    }

    @Test func errorDescriptionsNameNoSecrets() {
        #expect(CryptoError.badSignature.description == "bad signature")
        #expect(
            CryptoError.keyFile(path: "/k", reason: "already exists").description == "key file /k: already exists")
    }
}

@Suite("CryptoError")
struct CryptoErrorTests {
    @Test func staticMembersWorkAsCatchPatterns() {
        let key = SigningKey()
        let signature = key.sign([1])
        var caught = false
        do {
            try key.verifyingKey.verify(signature, for: [2])
        } catch CryptoError.authenticationFailed {
            Issue.record("matched the wrong code")
        } catch CryptoError.badSignature {
            caught = true
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(caught)
    }
}
