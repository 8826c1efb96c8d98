/// Why a DICOM file could not be read or written, with the byte offset and tag where it happened.
///
/// Every malformed input the reader meets becomes a `DICOMError`; none traps. Match on ``kind``:
///
/// ```swift
/// do { _ = try DICOMReader.read(path: path) }
/// catch where error.kind == .truncated { print(error) }
/// // byte 1234, tag (0010,0010): value length 4000 runs past the end of the file (1300 bytes)
/// ```
///
/// The description names offsets, tags, lengths and VRs, never a value, so it holds no patient data.
public struct DICOMError: Error, CustomStringConvertible, Sendable {
    fileprivate enum Code: String, Sendable {
        case truncated, invalidVR, invalidLength, missingMetaInformation, notDICOM, missingItem
        case nestingTooDeep, valueTooLarge, deflate, io, unencodable
    }

    /// A family of errors, to match on; new kinds may be added without breaking callers.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate let code: Code
        /// The input ends inside an element, or a length runs past its end.
        public static let truncated = Kind(code: .truncated)
        /// An explicit VR header holds bytes that are not a VR (PS3.5 §6.2).
        public static let invalidVR = Kind(code: .invalidVR)
        /// A value length is impossible: odd where PS3.5 §7.1.1 forbids, or past its container.
        public static let invalidLength = Kind(code: .invalidLength)
        /// The File Meta Information is missing, incomplete or not first (PS3.10 §7.1).
        public static let missingMetaInformation = Kind(code: .missingMetaInformation)
        /// The bytes do not look like DICOM at all.
        public static let notDICOM = Kind(code: .notDICOM)
        /// A sequence holds something other than an item or a delimiter (PS3.5 §7.5).
        public static let missingItem = Kind(code: .missingItem)
        /// Sequences nest deeper than the reader's limit.
        public static let nestingTooDeep = Kind(code: .nestingTooDeep)
        /// A value the reader keeps is longer than its cap.
        public static let valueTooLarge = Kind(code: .valueTooLarge)
        /// The deflated data set is not a valid raw deflate stream (PS3.5 §A.5).
        public static let deflate = Kind(code: .deflate)
        /// The operating system refused to open, read, seek or write a file.
        public static let io = Kind(code: .io)
        /// The writer was given something it cannot encode.
        public static let unencodable = Kind(code: .unencodable)
        /// The kind's name, e.g. `truncated`.
        public var description: String { code.rawValue }
    }

    private let code: Code
    /// The byte offset in the file (or, past the meta group of a deflated file, in the inflated data set)
    /// where the problem was found; nil when no position applies.
    public let offset: Int?
    /// The tag of the element being read, if any.
    public let tag: Tag?
    /// What went wrong, in words; never holds a value from the file.
    public let reason: String

    private init(_ code: Code, offset: Int?, tag: Tag?, reason: String) {
        self.code = code
        self.offset = offset
        self.tag = tag
        self.reason = reason
    }

    /// Which family this error belongs to.
    public var kind: Kind { Kind(code: code) }

    /// `byte 1234, tag (0010,0010): reason`, leaving out what is unknown.
    public var description: String {
        var prefix: [String] = []
        if let offset { prefix.append("byte \(offset)") }
        if let tag { prefix.append("tag \(tag)") }
        return prefix.isEmpty ? reason : prefix.joined(separator: ", ") + ": " + reason
    }

    /// The input ended early.
    /// - Parameters:
    ///   - offset: Where the missing bytes should have started.
    ///   - tag: The element being read, if known.
    ///   - reason: What was being read, e.g. "the file ends inside an element header".
    public static func truncated(at offset: Int?, tag: Tag? = nil, _ reason: String) -> DICOMError {
        DICOMError(.truncated, offset: offset, tag: tag, reason: reason)
    }

    /// A value length runs past the end of the input.
    /// - Parameters:
    ///   - offset: The offset of the element's header.
    ///   - tag: The element's tag.
    ///   - length: The value length the header claims.
    ///   - fileSize: How many bytes the input really has.
    public static func lengthPastEnd(at offset: Int, tag: Tag?, length: Int, fileSize: Int) -> DICOMError {
        DICOMError(
            .truncated, offset: offset, tag: tag,
            reason: "value length \(length) runs past the end of the file (\(fileSize) bytes)")
    }

    /// An explicit VR header holds two bytes that are not a known VR.
    public static func invalidVR(at offset: Int, tag: Tag, bytes: (UInt8, UInt8)) -> DICOMError {
        let shown = [bytes.0, bytes.1].map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
        let hex = [bytes.0, bytes.1].map { byte in
            let digits = String(byte, radix: 16, uppercase: true)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: " ")
        return DICOMError(.invalidVR, offset: offset, tag: tag, reason: "invalid VR \"\(shown)\" (\(hex))")
    }

    /// The File Meta Information declares an explicit VR transfer syntax, but the data set is encoded
    /// implicit VR (its first element has no VR).
    public static func implicitVRUnderExplicit(at offset: Int, tag: Tag, declared uid: String) -> DICOMError {
        DICOMError(
            .invalidVR, offset: offset, tag: tag,
            reason: "the File Meta Information declares \(uid) (explicit VR), but the data set is encoded implicit VR "
                + "(its first element has no VR): the file is mislabelled; export it again from its source "
                + "with a correct transfer syntax and ingest that")
    }

    /// A length that the encoding rules forbid.
    public static func invalidLength(at offset: Int, tag: Tag?, _ reason: String) -> DICOMError {
        DICOMError(.invalidLength, offset: offset, tag: tag, reason: reason)
    }

    /// The File Meta Information is missing or incomplete.
    public static func missingMetaInformation(at offset: Int?, tag: Tag? = nil, _ reason: String) -> DICOMError {
        DICOMError(.missingMetaInformation, offset: offset, tag: tag, reason: reason)
    }

    /// The input is not DICOM.
    public static func notDICOM(at offset: Int?, _ reason: String) -> DICOMError {
        DICOMError(.notDICOM, offset: offset, tag: nil, reason: reason)
    }

    /// A sequence holds something other than an item where an item must be.
    public static func missingItem(at offset: Int, tag: Tag, found: Tag) -> DICOMError {
        DICOMError(
            .missingItem, offset: offset, tag: tag,
            reason: "expected an item (FFFE,E000) or sequence delimiter in the sequence, found \(found)")
    }

    /// Sequences nest deeper than `limit`.
    public static func nestingTooDeep(at offset: Int, tag: Tag, limit: Int) -> DICOMError {
        DICOMError(.nestingTooDeep, offset: offset, tag: tag, reason: "sequences nest deeper than \(limit) levels")
    }

    /// A value the reader keeps is longer than its cap.
    public static func valueTooLarge(at offset: Int, tag: Tag, length: Int, limit: Int) -> DICOMError {
        DICOMError(
            .valueTooLarge, offset: offset, tag: tag,
            reason: "value length \(length) is over the \(limit)-byte limit for a value the reader keeps")
    }

    /// zlib refused the deflated data set.
    public static func deflate(at offset: Int?, _ reason: String) -> DICOMError {
        DICOMError(.deflate, offset: offset, tag: nil, reason: reason)
    }

    /// A system call failed.
    /// - Parameters:
    ///   - operation: What was being done, e.g. `"open"`.
    ///   - path: The file's path.
    ///   - errno: The C `errno` value.
    public static func io(_ operation: String, path: String, errno: Int32) -> DICOMError {
        DICOMError(.io, offset: nil, tag: nil, reason: "\(operation) \(path) failed (errno \(errno))")
    }

    /// The writer cannot encode what it was given.
    public static func unencodable(tag: Tag?, _ reason: String) -> DICOMError {
        DICOMError(.unencodable, offset: nil, tag: tag, reason: reason)
    }
}
