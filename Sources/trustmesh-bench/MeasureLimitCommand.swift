import ArgumentParser
import Foundation
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshStore

struct MeasureLimitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure-limit",
        abstract: "Measure this machine's one-core limit for receiving a fetch (Scripts/bench transfer).",
        discussion: """
            Chunks and compresses the files in memory as ingest would (zstd -1), seals each chunk \
            with XChaCha20-Poly1305, then times, on one thread, what a fetch's receiver must do per \
            chunk: open the AEAD, decompress, and hash the plaintext with BLAKE2b-256. Prints the \
            study bytes per second.
            """
    )

    @Argument(help: "A folder of DICOM files.")
    var folder: String

    func run() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { folder + "/" + $0 }
        let compressor = ZstdCompressor(level: 1)
        let key = SymmetricKey()
        let nonce = Random.bytes(XChaCha20Poly1305.nonceByteCount)
        var sealed: [(box: [UInt8], size: Int)] = []
        var total = 0
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            total += bytes.count
            var offset = 0
            try bytes.withUnsafeBytes { all in
                while offset < all.count {
                    let rest = UnsafeRawBufferPointer(rebasing: all[offset...])
                    let cut = Chunker.cutPoint(in: rest, parameters: .standard)
                    let chunk = UnsafeRawBufferPointer(rebasing: rest[0..<cut])
                    let compressed = try compressor.compress(chunk)
                    let box = try XChaCha20Poly1305.seal(compressed, key: key, nonce: nonce)
                    sealed.append((box, cut))
                    offset += cut
                }
            }
        }
        // The same calls as a fetch's receiver: open into one buffer, decompress into another, hash.
        let decompressor = ZstdDecompressor()
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { stored.deallocate() }
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { plain.deallocate() }
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            for (box, size) in sealed {
                let opened = try box.withUnsafeBytes { sealedBytes in
                    try nonce.withUnsafeBytes { nonceBytes in
                        try XChaCha20Poly1305.open(
                            sealedBytes, key: key, nonce: nonceBytes, associatedData: [], into: stored)
                    }
                }
                let produced = try decompressor.decompress(
                    UnsafeRawBufferPointer(rebasing: stored[..<opened]),
                    into: UnsafeMutableRawBufferPointer(rebasing: plain[..<size]))
                _ = BLAKE2b256.hash(UnsafeRawBufferPointer(rebasing: plain[..<produced]))
            }
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        print(String(format: "limit_mb_per_s %.1f", Double(total) / 1e6 / best))
    }
}
