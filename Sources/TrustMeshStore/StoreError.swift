import Glibc
package import TrustMeshDICOM

/// Why the store refused or failed an operation.
///
/// The text names the file, study or chunk involved and the rule that failed; it never holds a full
/// NHS number.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        case io(path: String, operation: String, errno: Int32)
        case notDICOM(path: String, reason: String)
        case missingAttribute(path: String, keyword: String)
        case patientMismatch(study: String, reason: String)
        case invalidUID(path: String, InvalidUID)
        case identityConflict(path: String, reason: String)
        case rejectionNote(path: String, reason: String)
        case manifest(String)
        case output(String)
        case unknownStudy(String)
        case corruptChunk(hash: String, reason: String)
        case missingChunk(hash: String)
        case exists(path: String)
        case catalogue(String)
        case skip
    }

    private let code: Code

    package static func io(path: String, operation: String, errno: Int32) -> StoreError {
        StoreError(code: .io(path: path, operation: operation, errno: errno))
    }
    package static func notDICOM(path: String, reason: String) -> StoreError {
        StoreError(code: .notDICOM(path: path, reason: reason))
    }
    package static func missingAttribute(path: String, keyword: String) -> StoreError {
        StoreError(code: .missingAttribute(path: path, keyword: keyword))
    }
    package static func patientMismatch(study: String, reason: String) -> StoreError {
        StoreError(code: .patientMismatch(study: study, reason: reason))
    }
    /// A UID attribute of the file is not a valid UID (PS3.5 §9.1).
    package static func invalidUID(path: String, _ error: InvalidUID) -> StoreError {
        StoreError(code: .invalidUID(path: path, error))
    }
    /// The instance would re-file a series or instance held in another study, or change the bytes
    /// held under its SOP Instance UID without being a correction.
    package static func identityConflict(path: String, reason: String) -> StoreError {
        StoreError(code: .identityConflict(path: path, reason: reason))
    }
    /// An IOCM rejection note that cannot be applied: its evidence is missing or incomplete, or it
    /// rejects instances this node does not hold or holds for another patient.
    package static func rejectionNote(path: String, reason: String) -> StoreError {
        StoreError(code: .rejectionNote(path: path, reason: reason))
    }
    /// A fetched study's manifest, or the instances it delivered, contradict what the holder announced.
    package static func manifest(_ reason: String) -> StoreError { StoreError(code: .manifest(reason)) }
    /// An output folder refused a name or a symbolic link (``OutputFolder``).
    package static func output(_ reason: String) -> StoreError { StoreError(code: .output(reason)) }
    package static func unknownStudy(_ uid: String) -> StoreError { StoreError(code: .unknownStudy(uid)) }
    package static func corruptChunk(hash: String, reason: String) -> StoreError {
        StoreError(code: .corruptChunk(hash: hash, reason: reason))
    }
    package static func missingChunk(hash: String) -> StoreError { StoreError(code: .missingChunk(hash: hash)) }
    package static func exists(path: String) -> StoreError { StoreError(code: .exists(path: path)) }
    package static func catalogue(_ message: String) -> StoreError { StoreError(code: .catalogue(message)) }
    /// A file passed over on purpose (a DICOMDIR index).
    package static let skip = StoreError(code: .skip)

    var isSkip: Bool {
        if case .skip = code { return true }
        return false
    }

    /// Whether the instance was refused because its UIDs contradict what this node holds (a
    /// series or instance of another study or patient, or other bytes under a held UID).
    public var isIdentityConflict: Bool {
        if case .identityConflict = code { return true }
        return false
    }

    /// Whether the disk was full (`ENOSPC`, `EDQUOT`).
    public var isDiskFull: Bool {
        if case .io(_, _, let errno) = code { return errno == ENOSPC || errno == EDQUOT }
        return false
    }

    /// The file the error is about, when it is about one.
    public var path: String? {
        switch code {
        case .io(let path, _, _), .notDICOM(let path, _), .missingAttribute(let path, _), .exists(let path),
            .invalidUID(let path, _), .identityConflict(let path, _), .rejectionNote(let path, _):
            path
        default: nil
        }
    }

    /// Whether the error is about the input file rather than the node (bad DICOM, missing UIDs).
    public var isBadInput: Bool {
        switch code {
        case .notDICOM, .missingAttribute, .patientMismatch, .invalidUID, .identityConflict, .rejectionNote: true
        default: false
        }
    }

    public var description: String {
        switch code {
        case .io(let path, let operation, let errno) where isDiskFull:
            "\(operation) \(path): the disk is full (\(String(cString: strerror(errno)))): free space on the "
                + "node's disk, then run it again"
        case .io(let path, let operation, let errno):
            "\(operation) \(path): \(String(cString: strerror(errno)))"
        case .notDICOM(let path, let reason):
            "\(path): not a readable DICOM file: \(reason)"
        case .missingAttribute(let path, let keyword):
            "\(path): has no \(keyword); every instance needs one"
        case .patientMismatch(let study, let reason):
            "study \(study): \(reason)"
        case .invalidUID(let path, let error):
            "\(path): \(error)"
        case .identityConflict(let path, let reason), .rejectionNote(let path, let reason):
            "\(path): \(reason)"
        case .manifest(let reason), .output(let reason):
            reason
        case .unknownStudy(let uid):
            "no study \(uid) is held by this node"
        case .corruptChunk(let hash, let reason):
            "chunk \(hash.prefix(16))… is corrupt: \(reason)"
        case .missingChunk(let hash):
            "chunk \(hash.prefix(16))… is missing from the chunk store"
        case .exists(let path):
            "\(path) already exists; refusing to overwrite it"
        case .catalogue(let message):
            "catalogue: \(message)"
        case .skip:
            "skipped"
        }
    }
}
