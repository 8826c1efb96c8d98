import ArgumentParser
import Foundation
import TrustMeshDICOM

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the attributes the index uses from DICOM files (without storing them).",
        discussion: """
            Reads each file's header only; pixel data is skipped, so large files are quick. With \
            --json prints one object per file keyed by DICOM keyword, plus "path", and "error" where \
            a file could not be read (exit status 2 if any could not).
            """
    )

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(help: ArgumentHelp("DICOM files.", valueName: "FILE"))
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file") }
    }

    private struct Entry: Encodable {
        var path: String
        var attributes: DICOMAttributes?
        var error: String?

        enum Key: String, CodingKey { case path, error }

        func encode(to encoder: any Encoder) throws {
            try attributes?.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(path, forKey: .path)
            try container.encodeIfPresent(error, forKey: .error)
        }
    }

    func run() throws {
        var entries: [Entry] = []
        for file in files {
            do {
                entries.append(Entry(path: file, attributes: try DICOMReader.read(path: file).attributes))
            } catch {
                entries.append(Entry(path: file, error: error.description))
            }
        }
        if json {
            print(try Output.json(entries))
        } else {
            for entry in entries {
                print(entry.path)
                if let error = entry.error { print("  error: \(error)") }
                guard let attributes = entry.attributes else { continue }
                let data = try JSONEncoder().encode(attributes)
                let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
                for key in object.keys.sorted() {
                    if let text = object[key] as? String {
                        print("  \(key.padding(toLength: 24, withPad: " ", startingAt: 0)) \(text)")
                    } else if let list = object[key] as? [[String: String]], !list.isEmpty {
                        for item in list {
                            print(
                                "  \(key.padding(toLength: 24, withPad: " ", startingAt: 0)) \(item["PatientID"] ?? "") (issuer \(item["IssuerOfPatientID"] ?? "none"))"
                            )
                        }
                    }
                }
            }
        }
        if entries.contains(where: { $0.error != nil }) { throw ExitCode(2) }
    }
}
