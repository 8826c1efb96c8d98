import Foundation
import Testing
import TrustMeshCrypto

@Suite("Key files")
struct KeyFileTests {
    @Test func signingKeyFileIsWrittenOwnerOnlyAndReadsBackIdentically() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/node.key"
            let key = SigningKey()
            try key.write(to: path)
            #expect(try permissions(atPath: path) == 0o600)

            let loaded = try SigningKey.read(from: path)
            #expect(loaded.verifyingKey == key.verifyingKey)
            let message = Array("audit checkpoint 42".utf8)
            #expect(loaded.sign(message) == key.sign(message))
        }
    }

    @Test func agreementKeyFileReadsBackAndOpensBoxes() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/node.box.key"
            let key = AgreementKey()
            try key.write(to: path)
            #expect(try permissions(atPath: path) == 0o600)
            let loaded = try AgreementKey.read(from: path)
            #expect(loaded.publicKey == key.publicKey)
            #expect(try loaded.openSealed(key.publicKey.seal([4, 5, 6])) == [4, 5, 6])
        }
    }

    @Test func existingFileIsNeverOverwritten() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/node.key"
            let original = SigningKey()
            try original.write(to: path)
            #expect(throws: CryptoError.keyFile(path: path, reason: "already exists; refusing to overwrite a key file"))
            {
                try SigningKey().write(to: path)
            }
            #expect(try SigningKey.read(from: path).verifyingKey == original.verifyingKey)
        }
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func fileOpenToGroupOrOthersIsRefused(mode: Int) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/node.key"
            try SigningKey().write(to: path)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            let error = #expect(throws: CryptoError.self) { try SigningKey.read(from: path) }
            #expect(error?.description.contains(path) == true)
            #expect(error?.description.contains("chmod 600") == true)
        }
    }

    @Test func wrongKindMissingAndMalformedFilesAreRefused() throws {
        try withTemporaryDirectory { directory in
            let agreementPath = directory + "/box.key"
            try AgreementKey().write(to: agreementPath)
            #expect(throws: CryptoError.keyFile(path: agreementPath, reason: "not an Ed25519 signing key file")) {
                try SigningKey.read(from: agreementPath)
            }

            let missing = directory + "/missing.key"
            #expect(throws: CryptoError.self) { try SigningKey.read(from: missing) }

            let short = directory + "/short.key"
            _ = FileManager.default.createFile(
                atPath: short, contents: Data([1, 2, 3]), attributes: [.posixPermissions: 0o600])
            let error = #expect(throws: CryptoError.self) { try SigningKey.read(from: short) }
            #expect(error?.description.contains("unexpected size") == true)
        }
    }

    @Test func failedWriteLeavesNoFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/no-such-dir/node.key"
            #expect(throws: CryptoError.self) { try SigningKey().write(to: path) }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }
}
