internal import TrustMeshCrypto

/// What an ingest did.
public struct IngestReport: Sendable, Codable, Equatable {
    /// A file that was not ingested, and why.
    public struct Failure: Sendable, Codable, Equatable {
        public var path: String
        public var reason: String
        /// Set when the instance's UIDs contradict what this node holds (a series or instance of
        /// another study or patient, other bytes under a held UID): C-STORE answers 0xA900, STOW-RS
        /// lists it with FailureReason A900.
        public var identityConflict: Bool?

        public init(path: String, reason: String, identityConflict: Bool? = nil) {
            self.path = path
            self.reason = reason
            self.identityConflict = identityConflict
        }
    }

    /// An instance of a held study replaced by other bytes under the same SOP Instance UID: a
    /// correction, made only when the ingest allowed corrections (the trust's operator).
    public struct Correction: Sendable, Codable, Equatable {
        public var studyUID: String
        public var sopInstanceUID: String
        /// BLAKE2b-256 (hex) over the ordered chunk hashes, before and after.
        public var oldManifestHash: String
        public var newManifestHash: String
    }

    public var instancesAdded = 0
    /// Instances already held with different bytes (a corrected header), now replaced: one
    /// ``corrections`` entry each.
    public var instancesReplaced = 0
    public var corrections: [Correction] = []
    /// Instances already held byte for byte: nothing was added.
    public var instancesUnchanged = 0
    /// IOCM rejection notes applied: the instances they name removed, the notes recorded, not
    /// stored as instances; nil when there were none (and in reports from before notes were known).
    public var rejectionNotes: Int?
    /// Files skipped on purpose (DICOMDIR indexes).
    public var skipped = 0
    public var failures: [Failure] = []
    /// Study Instance UIDs touched by this ingest.
    public var studies: [String] = []
    /// Of ``studies``, those with no valid NHS number: stored, never shared.
    public var unmatchedStudies: [String] = []
    /// Bytes of the DICOM files read.
    public var bytesRead = 0
    /// Bytes newly written to the chunk store (compressed); 0 when everything was already held.
    public var bytesStored = 0
    /// Plaintext bytes of the chunks that were new.
    public var newChunkBytes = 0
    public var chunksWritten = 0

    /// Bytes read per byte newly stored (∞ shown as 0 when nothing was stored).
    public var dedupRatio: Double { bytesStored == 0 ? 0 : Double(bytesRead) / Double(bytesStored) }

    public var instancesIngested: Int { instancesAdded + instancesReplaced + instancesUnchanged }
}

/// An ingest the node could not finish (a full disk, a catalogue error): the instances committed
/// before it stopped are whole and listed in ``report``; nothing of the rest was kept.
public struct IngestInterrupted: Error, CustomStringConvertible {
    /// What was committed before the failure.
    public var report: IngestReport
    /// Why the node stopped.
    public var cause: any Error

    public var description: String {
        let done = report.instancesIngested
        return done == 0
            ? "\(cause); nothing of this ingest was stored"
            : "\(cause); the \(done) instance(s) stored before it are kept, whole"
    }
}

/// Where a long ingest has got to, for a progress display.
public struct IngestProgress: Sendable {
    public var filesDone: Int
    public var filesTotal: Int
    public var bytesRead: Int
    public var bytesStored: Int
    public var failures: Int
}

/// What an export wrote.
public struct ExportReport: Sendable, Codable, Equatable {
    public var files: [String]
    public var bytes: Int
}

extension IngestReport {
    /// Counts one instance's commit outcome (added, replaced with its correction, unchanged, or
    /// refused with its reason), as every ingest door reports it.
    /// - Returns: whether the instance is held now (not refused).
    mutating func count(_ outcome: Catalogue.Outcome, of instance: PreparedInstance) -> Bool {
        switch outcome {
        case .added: instancesAdded += 1
        case .replaced(let previous):
            instancesReplaced += 1
            corrections.append(
                .init(
                    studyUID: instance.studyUID, sopInstanceUID: instance.sopInstanceUID,
                    oldManifestHash: previous.hex, newManifestHash: instance.manifestHash.hex))
        case .unchanged: instancesUnchanged += 1
        case .rejected: rejectionNotes = (rejectionNotes ?? 0) + 1
        case .refused(let box):
            failures.append(
                .init(
                    path: instance.path, reason: box.error.description,
                    identityConflict: box.error.isIdentityConflict ? true : nil))
            return false
        }
        return true
    }
}
