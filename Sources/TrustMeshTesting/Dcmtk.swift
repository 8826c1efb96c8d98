import Foundation

/// Runs the dcmtk command-line tools, so tests can check our DICOM reader and writer against a reference.
///
/// dcmtk comes from Debian's `dcmtk` package (installed by `Scripts/setup`). Every call throws
/// ``Dcmtk/Failure`` with a clear message when a tool is missing or fails.
///
/// ```swift
/// let values = try Dcmtk.dump(path)        // ["PatientID": "9434765919", ...]
/// _ = try Dcmtk.run("dcmconv", ["+te", input, output])
/// ```
public enum Dcmtk {
    /// Why a dcmtk tool could not give an answer.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong, including the tool's error output.
        public let description: String
    }

    /// One element line of `dcmdump` output.
    public struct Element: Sendable, Hashable {
        /// Indentation level as dcmdump prints it: 0 for the top level (and the meta group), 1 for the items
        /// of a top-level sequence, 2 for the elements in those items, and so on.
        public var depth: Int
        /// The tag as dcmdump prints it, upper-cased: `"0010,0020"`.
        public var tag: String
        /// The VR dcmdump reports.
        public var vr: String
        /// The dictionary keyword, e.g. `"PatientID"`; `"PrivateCreator"` or `"Unknown Tag & Data"` for others.
        public var keyword: String
        /// The value: a string's text without brackets, numbers as printed, `""` for no value.
        public var value: String
    }

    /// Whether a tool is on the `PATH`.
    public static func isInstalled(_ tool: String = "dcmdump") -> Bool { executable(tool) != nil }

    /// Runs `tool` with `arguments` and returns its standard output.
    /// - Throws: ``Failure`` if the tool is not installed, cannot start, or exits with a non-zero status.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        guard let path = executable(tool) else {
            throw Failure(description: "\(tool) is not installed: install Debian's dcmtk package (Scripts/setup)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        // Standard error goes to a file so that neither pipe can fill and stall the tool.
        let errorPath = FileManager.default.temporaryDirectory.path + "/dcmtk-stderr-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        process.standardOutput = output
        process.standardError = errorHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try errorHandle.close()
        let stdout = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw Failure(
                description: "\(tool) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): "
                    + stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return stdout
    }

    /// Every element `dcmdump` prints for a file, meta group included, values converted to UTF-8.
    ///
    /// Because of the conversion, dcmdump reports Specific Character Set (0008,0005) as `ISO_IR 192`
    /// whatever the file says.
    /// - Parameters:
    ///   - path: The DICOM file.
    ///   - extraArguments: More `dcmdump` options, e.g. `["-f"]` to read a bare data set.
    /// - Throws: ``Failure`` if dcmdump is missing or rejects the file.
    public static func elements(_ path: String, extraArguments: [String] = []) throws -> [Element] {
        // -Un: UIDs as numbers; +U8: values in UTF-8 whatever the character set; +L: long values in full;
        // -M: do not load long values such as pixel data.
        let output = try run("dcmdump", ["-q", "-Un", "+U8", "+L", "-M"] + extraArguments + [path])
        return output.split(separator: "\n", omittingEmptySubsequences: true).compactMap(parse)
    }

    /// The top-level elements `dcmdump` prints for a file, keyed by keyword (meta group included).
    /// - Parameter path: The DICOM file.
    /// - Returns: Keyword → value; for a keyword that appears more than once, the first.
    /// - Throws: ``Failure`` if dcmdump is missing or rejects the file.
    public static func dump(_ path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for element in try elements(path) where element.depth == 0 && values[element.keyword] == nil {
            values[element.keyword] = element.value
        }
        return values
    }

    /// Parses one line such as `  (0010,0020) LO [9434765919]   #  10, 1 PatientID`.
    private static func parse(_ line: Substring) -> Element? {
        let indent = line.prefix { $0 == " " }.count
        let rest = line.dropFirst(indent)
        guard rest.hasPrefix("("), rest.count > 15 else { return nil }
        let tag = String(rest.dropFirst().prefix(9)).uppercased()
        let afterTag = rest.dropFirst(12)
        let vr = String(afterTag.prefix(2))
        guard let hash = afterTag.range(of: " #", options: .backwards) else { return nil }
        var valueField = afterTag.dropFirst(3)[..<hash.lowerBound].trimmingCharacters(in: .whitespaces)
        let trailer = afterTag[hash.upperBound...].trimmingCharacters(in: .whitespaces)
        // The trailer is "length, vm Keyword".
        var keyword = trailer.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).dropFirst(2)
            .joined(separator: " ")
        // dcmtk marks retired attributes, e.g. RETIRED_OtherPatientIDs (0010,1000).
        if keyword.hasPrefix("RETIRED_") { keyword.removeFirst("RETIRED_".count) }
        if valueField.hasPrefix("["), let close = valueField.lastIndex(of: "]") {
            valueField = String(valueField[valueField.index(after: valueField.startIndex)..<close])
        } else if valueField.hasPrefix("(no value available)") || valueField.hasPrefix("(Sequence")
            || valueField.hasPrefix("(Item") || valueField.hasPrefix("(SequenceDelimitationItem")
            || valueField.hasPrefix("(ItemDelimitationItem") || valueField.hasPrefix("(PixelSequence")
        {
            valueField = ""
        }
        return Element(depth: indent / 2, tag: tag, vr: vr, keyword: keyword, value: valueField)
    }

    private static func executable(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
