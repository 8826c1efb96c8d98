package import TrustMeshCrypto
package import TrustMeshDICOM
package import TrustMeshModel

/// An instance whose chunks are durably stored, waiting for its catalogue commit.
package struct PreparedInstance: Sendable {
    package var path: String
    package var attributes: DICOMAttributes
    package var studyUID: String
    package var seriesUID: String
    package var sopInstanceUID: String
    package var transferSyntaxUID: String
    /// The patient's NHS number, or nil when the instance names none (an unmatched study).
    package var nhsNumber: NHSNumber?
    package var size: Int
    package var manifest: [Digest256]
    /// Set when the instance is an IOCM rejection note: the commit applies it instead of storing it.
    package var rejection: RejectionNote? = nil

    /// BLAKE2b-256 over the ordered chunk hashes: the identity of the instance's bytes.
    package var manifestHash: Digest256 {
        var hasher = BLAKE2b256()
        for hash in manifest { hasher.update(hash.rawBytes) }
        return hasher.finalize()
    }
}

/// How a study is tied to an NHS number (issue rule): PatientID when it is a valid NHS number, else
/// an Other Patient ID whose issuer is the NHS; otherwise none, and the study stays unmatched.
package enum PatientMatching {
    package static func nhsNumber(for attributes: DICOMAttributes) -> NHSNumber? {
        if let id = attributes.patientID, let nhs = try? NHSNumber(id) { return nhs }
        for other in attributes.otherPatientIDs {
            guard let issuer = other.issuer, NHSNumber.isNHSIssuer(issuer) else { continue }
            if let nhs = try? NHSNumber(other.patientID) { return nhs }
        }
        return nil
    }
}
