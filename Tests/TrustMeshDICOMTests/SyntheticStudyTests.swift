import Foundation
import Testing
import TrustMeshDICOM
import TrustMeshTesting

/// The synthetic CT studies used by the demo, tests and benchmarks.
@Suite(.timeLimit(.minutes(3))) struct SyntheticStudyTests {
    @Test func aStudyIsDeterministicForItsUIDAndSeed() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-synth")
        var study = SyntheticStudy(patientID: "9434765919", instancesPerSeries: 2, seed: 3, rows: 32, columns: 32)
        let first = try study.write(to: dir.appending("a"))
        let again = try study.write(to: dir.appending("b"))
        #expect(try first.map(Fixtures.bytes) == (try again.map(Fixtures.bytes)))
        study.seed = 4
        let reseeded = try study.write(to: dir.appending("c"))
        #expect(try Fixtures.bytes(of: first[0]) != (try Fixtures.bytes(of: reseeded[0])))
        // Studies made with defaults never share UIDs.
        let other = SyntheticStudy(patientID: "9434765919", instancesPerSeries: 2, seed: 3, rows: 32, columns: 32)
        #expect(other.studyInstanceUID != study.studyInstanceUID)
        #expect(study.studyInstanceUID.hasPrefix("2.25.") && study.studyInstanceUID.count <= 64)
    }

    @Test func fullSizeSlicesAreRealisticCTThatCompressesLikeTheBaseline() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-synth-full")
        let study = SyntheticStudy(patientID: "9434765919", patientName: "Doe^Jane", instancesPerSeries: 24, seed: 7)
        let paths = try study.write(to: dir.path)
        var total = 0
        var stored: [Int] = []
        for path in paths {
            let bytes = try Fixtures.bytes(of: path)
            total += bytes.count
            // About 525 KB each, like the baseline study's 525,681 bytes.
            #expect((520_000...531_000).contains(bytes.count))
            let info = try Fixtures.read(bytes)
            #expect(info.rows == 512 && info.columns == 512 && info.bitsStored == 12)
            #expect(info.windowCenter == 40 && info.windowWidth == 400 && info.rescaleIntercept == -1024)
            let pixels = bytes[try #require(info.pixelDataOffset) + 12..<bytes.count]
            stored.append(
                contentsOf: stride(from: pixels.startIndex, to: pixels.endIndex, by: 2 * 997).map {
                    Int(pixels[$0]) | Int(pixels[$0 + 1]) << 8
                })
        }
        // Not zeros: air, fat, soft tissue, lung and bone all appear (stored = HU + 1024).
        #expect(stored.contains { $0 < 100 } && stored.contains { (900...1000).contains($0) })
        #expect(stored.contains { (1040...1110).contains($0) } && stored.contains { (150...350).contains($0) })
        #expect(stored.contains { $0 > 1500 } && stored.allSatisfy { $0 <= 4095 })

        // zstd -1 compresses the baseline study 2.14×; ours must land near it.
        let joined = dir.appending("all.raw")
        #expect(FileManager.default.createFile(atPath: joined, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: joined))
        for path in paths { try handle.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: path))) }
        try handle.close()
        let compressed = try Self.zstdSize(joined)
        let ratio = Double(total) / Double(compressed)
        #expect((1.9...2.6).contains(ratio), "zstd -1 ratio \(ratio)")
    }

    /// The size `zstd -1` compresses a file to, via the zstd command-line tool.
    static func zstdSize(_ path: String) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["zstd", "-1", "-q", "-f", path, "-o", path + ".zst"]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "the zstd command-line tool is needed (Scripts/setup)")
        return try #require(try FileManager.default.attributesOfItem(atPath: path + ".zst")[.size] as? Int)
    }

    @Test func everyUncompressedSyntaxIsWrittenAndCompressedOnesAreRefused() throws {
        let dir = try TemporaryDirectory(prefix: "dicom-synth-syntax")
        for syntax in Fixtures.uncompressedSyntaxes {
            let study = SyntheticStudy(
                patientID: "9434765919", instancesPerSeries: 1, seed: 1, rows: 16, columns: 16, transferSyntax: syntax)
            let path = try #require(try study.write(to: dir.appending(syntax.uid)).first)
            let info = try DcmtkCrossCheckTests.expectAgreement(path)
            #expect(info.transferSyntax == syntax && info.attributes.studyInstanceUID == study.studyInstanceUID)
        }
        let jpeg = SyntheticStudy(patientID: "1", instancesPerSeries: 1, transferSyntax: .jpegBaseline)
        #expect(throws: DICOMError.self) { try jpeg.write(to: dir.appending("jpeg")) }
    }
}
