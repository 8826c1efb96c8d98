import Testing
import TrustMeshCrypto

@Suite("BLAKE2b-256")
struct BLAKE2bTests {
    /// Unkeyed BLAKE2b with a 32-byte digest (RFC 7693 parameters), checked against Python's `hashlib.blake2b`.
    static let knownAnswers: [(message: [UInt8], digest: String)] = [
        ([], "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"),
        (Array("abc".utf8), "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"),
        (
            Array("The quick brown fox jumps over the lazy dog".utf8),
            "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9"
        ),
        ((0...255).map { UInt8($0) }, "39a7eb9fedc19aabc83425c6755dd90e6f9d0c804964a1f4aaeea3b9fb599835"),
    ]

    /// 1 MiB of `i % 251`, long enough to cross many 128-byte blocks and any internal buffering.
    static let longMessage: [UInt8] = (0..<(1 << 20)).map { UInt8($0 % 251) }
    static let longDigest = "8a5a7a9dc3cf203ed374b0a1eea930601ad2acbfe2b4bc62cf83de4ee536528b"

    @Test func oneShotMatchesKnownAnswers() {
        for (message, digest) in Self.knownAnswers {
            #expect(BLAKE2b256.hash(message).hex == digest)
            #expect(message.withUnsafeBytes { BLAKE2b256.hash($0) }.hex == digest)
        }
        #expect(BLAKE2b256.hash(Self.longMessage).hex == Self.longDigest)
    }

    @Test func streamingMatchesKnownAnswers() {
        for (message, digest) in Self.knownAnswers {
            var hasher = BLAKE2b256()
            hasher.update(message)
            #expect(hasher.finalize().hex == digest)
        }
    }

    @Test func streamingInRandomSplitsEqualsOneShot() {
        var generator = SeededGenerator(seed: 0xB1A2_B256)
        let message = Self.longMessage
        for maxPiece in [1, 7, 128, 129, 4096, 100_000] {
            var hasher = BLAKE2b256()
            let ranges =
                maxPiece == 1
                ? randomSplits(of: 4096, maxPiece: 1, using: &generator)  // byte by byte over a 4 KiB prefix
                : randomSplits(of: message.count, maxPiece: maxPiece, using: &generator)
            for range in ranges {
                message[range].withUnsafeBytes { hasher.update($0) }
            }
            let expected = BLAKE2b256.hash(Array(message[0..<ranges.last!.upperBound]))
            #expect(hasher.finalize() == expected, "max piece \(maxPiece)")
        }
    }

    @Test func emptyUpdatesChangeNothing() {
        var hasher = BLAKE2b256()
        hasher.update([])
        hasher.update(Array("abc".utf8))
        hasher.update([])
        #expect(hasher.finalize().hex == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
    }

    @Test func copyingAHasherForksItsState() {
        var first = BLAKE2b256()
        first.update(Array("ab".utf8))
        var second = first
        second.update(Array("c".utf8))
        first.update(Array("x".utf8))
        #expect(second.finalize() == BLAKE2b256.hash(Array("abc".utf8)))
        #expect(first.finalize() == BLAKE2b256.hash(Array("abx".utf8)))
    }
}

@Suite("Digest256")
struct Digest256Tests {
    @Test func hexAndRawBytesRoundTrip() throws {
        let digest = BLAKE2b256.hash(Array("abc".utf8))
        #expect(try Digest256(hex: digest.hex) == digest)
        #expect(try Digest256(hex: digest.hex.uppercased()) == digest)
        #expect(try Digest256(rawBytes: digest.rawBytes) == digest)
        #expect(digest.description == digest.hex)
        #expect(hexString(digest.rawBytes) == digest.hex)
    }

    @Test func malformedInputIsRefused() {
        #expect(throws: CryptoError.invalidLength(expected: 32, actual: 31)) {
            try Digest256(rawBytes: [UInt8](repeating: 0, count: 31))
        }
        #expect(throws: CryptoError.invalidLength(expected: 32, actual: 2)) { try Digest256(hex: "abcd") }
        #expect(throws: CryptoError.invalidEncoding(reason: "hex string has an odd number of digits")) {
            try Digest256(hex: "abc")
        }
        #expect(throws: CryptoError.invalidEncoding(reason: "not a hex digit at offset 0")) {
            try Digest256(hex: "zz" + String(repeating: "0", count: 62))
        }
    }

    @Test func orderIsTheOrderOfTheBytes() throws {
        var generator = SeededGenerator(seed: 42)
        let digests = (0..<200).map { _ in
            try! Digest256(rawBytes: (0..<32).map { _ in UInt8.random(in: 0...3, using: &generator) })
        }
        let byValue = digests.sorted()
        let byBytes = digests.sorted { $0.rawBytes.lexicographicallyPrecedes($1.rawBytes) }
        #expect(byValue == byBytes)
    }

    @Test func worksAsADictionaryKeyAndThroughCodable() throws {
        let a = BLAKE2b256.hash([1])
        let b = BLAKE2b256.hash([2])
        let table = [a: "a", b: "b"]
        #expect(table[try Digest256(hex: a.hex)] == "a")
        let json = try JSONRoundTrip.encode([a, b])
        #expect(json == "[\"\(a.hex)\",\"\(b.hex)\"]")
        #expect(try JSONRoundTrip.decode([Digest256].self, from: json) == [a, b])
    }
}
