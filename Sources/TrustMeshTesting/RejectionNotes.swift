import Foundation

/// IHE IOCM rejection notes (Key Object Selection Documents) written by pydicom, an independent
/// writer, for the tests of what a node does with them.
public enum RejectionNotes {
    /// What kind of note to write.
    public struct Options: Sendable {
        /// The document title's code value, e.g. `113037`.
        public var code: String
        /// The document title's coding scheme designator (`DCM` for IOCM).
        public var scheme: String
        /// The SOP Class UID: Key Object Selection Document Storage unless a test wants another.
        public var sopClassUID: String
        /// Whether to write the Current Requested Procedure Evidence Sequence (0040,A375).
        public var evidence: Bool
        /// Implicit VR Little Endian instead of Explicit VR Little Endian.
        public var implicitVR: Bool

        /// A note with code `code`, evidence, explicit VR.
        public init(
            code: String = "113037", scheme: String = "DCM",
            sopClassUID: String = "1.2.840.10008.5.1.4.1.1.88.59", evidence: Bool = true, implicitVR: Bool = false
        ) {
            self.code = code
            self.scheme = scheme
            self.sopClassUID = sopClassUID
            self.evidence = evidence
            self.implicitVR = implicitVR
        }
    }

    /// The pydicom program: `OUT CODE SCHEME SOPCLASS evidence|none implicit|explicit FILE...`; the
    /// note's patient and study are those of the first file, and its evidence lists every file.
    static let script = #"""
        import sys, pydicom
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.sequence import Sequence
        from pydicom.uid import generate_uid, ExplicitVRLittleEndian, ImplicitVRLittleEndian
        out, code, scheme, sop_class, evidence, vr = sys.argv[1:7]
        refs = [pydicom.dcmread(p, stop_before_pixels=True) for p in sys.argv[7:]]
        first = refs[0]
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = generate_uid()
        ds.PatientID = first.PatientID
        ds.PatientName = first.PatientName
        ds.PatientBirthDate = first.get("PatientBirthDate", "")
        ds.PatientSex = first.get("PatientSex", "")
        ds.StudyInstanceUID = first.StudyInstanceUID
        ds.StudyDate = first.get("StudyDate", "")
        ds.StudyTime = first.get("StudyTime", "")
        ds.AccessionNumber = first.get("AccessionNumber", "")
        ds.ReferringPhysicianName = ""
        ds.StudyID = "1"
        ds.Modality = "KO"
        ds.SeriesInstanceUID = generate_uid()
        ds.SeriesNumber = 999
        ds.InstanceNumber = 1
        ds.ContentDate = "20261205"
        ds.ContentTime = "120000"
        ds.ValueType = "CONTAINER"
        ds.ContinuityOfContent = "SEPARATE"
        title = Dataset()
        title.CodeValue = code
        title.CodingSchemeDesignator = scheme
        title.CodeMeaning = "Rejected for Patient Safety Reasons" if code == "113037" else "Some title"
        ds.ConceptNameCodeSequence = Sequence([title])
        if evidence == "evidence":
            series = {}
            for r in refs:
                item = Dataset()
                item.ReferencedSOPClassUID = r.SOPClassUID
                item.ReferencedSOPInstanceUID = r.SOPInstanceUID
                series.setdefault(r.SeriesInstanceUID, []).append(item)
            study = Dataset()
            study.StudyInstanceUID = first.StudyInstanceUID
            items = []
            for uid, sops in series.items():
                s = Dataset()
                s.SeriesInstanceUID = uid
                s.ReferencedSOPSequence = Sequence(sops)
                items.append(s)
            study.ReferencedSeriesSequence = Sequence(items)
            ds.CurrentRequestedProcedureEvidenceSequence = Sequence([study])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if vr == "implicit" else ExplicitVRLittleEndian
        ds.file_meta = meta
        ds.preamble = b"\0" * 128
        ds.save_as(out, enforce_file_format=True)
        print(ds.SOPInstanceUID)
        """#

    /// Writes a rejection note for the instances in `files` to `path`.
    /// - Returns: the note's SOP Instance UID.
    /// - Throws: if pydicom is missing (Scripts/setup installs it) or fails.
    @discardableResult
    public static func write(to path: String, rejecting files: [String], options: Options = Options()) async throws
        -> String
    {
        let result = try await CommandRunner.run(
            "/usr/bin/env",
            [
                "python3", "-c", script, path, options.code, options.scheme, options.sopClassUID,
                options.evidence ? "evidence" : "none", options.implicitVR ? "implicit" : "explicit",
            ] + files)
        guard result.status == 0 else {
            throw RejectionNotesError(description: "pydicom could not write the note: \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// pydicom failed to write a note.
public struct RejectionNotesError: Error, CustomStringConvertible {
    /// What pydicom said.
    public var description: String
}
