import Foundation
import TrustMeshFuzz

// Built two ways (Scripts/fuzz, docs/FUZZING.md):
// - with `-sanitize=fuzzer,address -D FUZZING`: libFuzzer's own `main` drives the target named by
//   TRUSTMESH_FUZZ_TARGET;
// - plainly: `trustmesh-fuzz seeds DIR` writes the seed corpus, and `trustmesh-fuzz run TARGET
//   FILE…` runs a target over files (to replay a crash without the fuzzer).

#if FUZZING
    nonisolated(unsafe) private var selected: FuzzTargets.Target? = nil

    /// libFuzzer calls this for each input.
    @_cdecl("LLVMFuzzerTestOneInput")
    func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        if selected == nil {
            let name = ProcessInfo.processInfo.environment["TRUSTMESH_FUZZ_TARGET"] ?? ""
            guard let target = FuzzTargets.named(name) else {
                let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
                fatalError("set TRUSTMESH_FUZZ_TARGET to one of: \(names)")
            }
            selected = target
        }
        selected!.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }

    /// libFuzzer's driver (compiler-rt's `LLVMFuzzerRunDriver`); its arguments are pointers, passed
    /// alike by the C and Swift conventions on the platforms this runs on.
    @_silgen_name("LLVMFuzzerRunDriver")
    private func runDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// SwiftPM links an executable's `main` to `<module>_main`: this is it, and it hands the process
    /// to libFuzzer's driver, as libFuzzer's own `main` would.
    @_cdecl("trustmesh_fuzz_main")
    func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var argc = argc
        var argv = argv
        return runDriver(&argc, &argv, fuzzOne)
    }
#else
    @main struct FuzzMain {
        static func main() async {
            let arguments = Array(CommandLine.arguments.dropFirst())
            do {
                switch arguments.first {
                case "seeds" where arguments.count == 2:
                    for target in FuzzTargets.all {
                        let folder = arguments[1] + "/" + target.name
                        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                        for (index, seed) in try await target.seeds().enumerated() {
                            try Data(seed).write(to: URL(fileURLWithPath: folder + "/seed-\(index)"))
                        }
                    }
                case "run" where arguments.count >= 2:
                    guard let target = FuzzTargets.named(arguments[1]) else { throw Usage() }
                    for path in arguments.dropFirst(2) {
                        target.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
                        print("\(path): ok")
                    }
                default:
                    throw Usage()
                }
            } catch {
                let names = FuzzTargets.all.map(\.name).joined(separator: "|")
                FileHandle.standardError.write(
                    Data(
                        """
                        usage: trustmesh-fuzz seeds DIR          write every target's seed corpus under DIR
                               trustmesh-fuzz run \(names) FILE...
                        \(error is Usage ? "" : "error: \(error)\n")
                        """.utf8))
                exit(2)
            }
        }

        struct Usage: Error {}
    }
#endif
