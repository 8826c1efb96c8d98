import Foundation
import Testing
import TrustMeshFuzz
import TrustMeshGossip

/// Every fuzz target, run the way CI can afford: over its committed seed corpus, every input a
/// fuzzer ever crashed it with (`Fuzz/regressions/TARGET/`, kept when fixed), and a fixed number of
/// seeded mutations of those (bit flips, truncations, insertions, repeats). A target traps on a
/// crash or a broken property, which fails the test process: a regression shows here without the
/// sanitizer build `Scripts/fuzz` makes.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz").path
    /// Mutated inputs per target per run.
    static let mutations = 3_000

    static func files(_ folder: String) -> [[UInt8]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.sorted().compactMap { FileManager.default.contents(atPath: folder + "/" + $0).map(Array.init) }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func theCorpusTheKeptCrashesAndTheirMutationsRunClean(target name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let corpus = Self.files("\(Self.root)/corpus/\(name)")
        #expect(!corpus.isEmpty, "Fuzz/corpus/\(name) is empty: run trustmesh-fuzz seeds Fuzz/corpus")
        let inputs = corpus + Self.files("\(Self.root)/regressions/\(name)")
        for input in inputs { target.run(input) }
        var random = SplitMix64(seed: UInt64(name.utf8.reduce(5381) { $0 &* 33 &+ UInt64($1) }))
        for round in 0..<Self.mutations {
            target.run(Self.mutate(inputs[round % inputs.count], &random))
        }
    }

    static func mutate(_ input: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where !bytes.isEmpty:
                let at = Int.random(in: 0..<bytes.count, using: &random)
                bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            case 1 where !bytes.isEmpty:
                bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
            case 2:
                let at = Int.random(in: 0...bytes.count, using: &random)
                bytes.insert(
                    contentsOf: (0..<Int.random(in: 1...8, using: &random)).map { _ in
                        UInt8.random(in: 0...255, using: &random)
                    }, at: at)
            case 3 where !bytes.isEmpty:
                let at = Int.random(in: 0..<bytes.count, using: &random)
                bytes[at] = [0x00, 0xFF, 0x7F, 0x80, 0x30, 0x2E][Int.random(in: 0..<6, using: &random)]
            case 4 where bytes.count > 1:
                let from = Int.random(in: 0..<bytes.count, using: &random)
                let count = min(Int.random(in: 1...16, using: &random), bytes.count - from)
                bytes.insert(contentsOf: bytes[from..<from + count], at: from)
            default:
                break
            }
        }
        return bytes
    }
}
