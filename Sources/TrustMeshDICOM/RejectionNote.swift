/// An IHE IOCM rejection note: a Key Object Selection Document (SOP Class 1.2.840.10008.5.1.4.1.1.88.59,
/// PS3.3 §A.35.4) whose document title, Concept Name Code Sequence (0040,A043), is one of the four DCM
/// rejection codes (PS3.16 CID 7011), and whose Current Requested Procedure Evidence Sequence (0040,A375)
/// lists the rejected instances: study, then Referenced Series Sequence (0008,1115), then Referenced SOP
/// Sequence (0008,1199) with Referenced SOP Instance UIDs (0008,1155) (IHE RAD TF-3 Imaging Object Change
/// Management).
///
/// A store that receives one hides the instances it references from everything it serves, instead of
/// keeping the note as a study of its own.
///
/// ```swift
/// switch try RejectionNote.recognise(dump) {
/// case .notARejectionNote: break                   // stored as any other object
/// case .rejection(let note): print(note.code, note.instances.count)
/// }
/// ```
public struct RejectionNote: Sendable, Hashable {
    /// A rejected instance, as the evidence names it.
    public struct Reference: Sendable, Hashable {
        /// Study Instance UID (0020,000D) of the evidence item.
        public var studyUID: String
        /// Series Instance UID (0020,000E) of the Referenced Series Sequence item.
        public var seriesUID: String
        /// Referenced SOP Instance UID (0008,1155).
        public var sopInstanceUID: String

        /// A rejected instance.
        public init(studyUID: String, seriesUID: String, sopInstanceUID: String) {
            self.studyUID = studyUID
            self.seriesUID = seriesUID
            self.sopInstanceUID = sopInstanceUID
        }
    }

    /// What ``recognise(_:)`` found.
    public enum Recognition: Sendable, Hashable {
        /// Not a KOS, or a KOS whose title is not a rejection code: an ordinary object.
        case notARejectionNote
        /// A rejection note, with its evidence.
        case rejection(RejectionNote)
    }

    /// Key Object Selection Document Storage (PS3.4 §B.5).
    public static let keyObjectSelectionSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.59"

    /// The rejection codes of IOCM (coding scheme DCM) and their meanings (PS3.16 CID 7011).
    public static let codes: [String: String] = [
        "113001": "Rejected for Quality Reasons",
        "113037": "Rejected for Patient Safety Reasons",
        "113038": "Incorrect Modality Worklist Entry",
        "113039": "Data Retention Policy Expired",
    ]

    /// The note's own SOP Instance UID.
    public var sopInstanceUID: String
    /// The rejection code (Code Value (0008,0100)), one of ``codes``.
    public var code: String
    /// The code's meaning as PS3.16 states it (not as the sender wrote it).
    public var meaning: String
    /// The rejected instances, in the order the evidence lists them; at least one.
    public var instances: [Reference]

    /// The rejected studies, each once, in the order the evidence names them.
    public var studies: [String] {
        var seen: Set<String> = []
        return instances.map(\.studyUID).filter { seen.insert($0).inserted }
    }

    /// Creates a note from its parts.
    public init(sopInstanceUID: String, code: String, meaning: String, instances: [Reference]) {
        self.sopInstanceUID = sopInstanceUID
        self.code = code
        self.meaning = meaning
        self.instances = instances
    }

    /// Whether `dump` is a rejection note, and what it rejects.
    /// - Throws: ``RejectionNoteError`` for a KOS titled with a rejection code whose evidence is
    ///   missing or incomplete (no Current Requested Procedure Evidence Sequence, an item without a
    ///   study, series or SOP Instance UID, or no instance at all): it cannot be applied, and storing
    ///   it as an ordinary object would hide that the sender meant to reject something.
    public static func recognise(_ dump: DataSetDump) throws(RejectionNoteError) -> Recognition {
        let top = dump.elements
        guard text(dump, top, .sopClassUID) == keyObjectSelectionSOPClassUID else { return .notARejectionNote }
        guard let title = top.first(where: { $0.tag == conceptNameCodeSequence })?.items.first,
            text(dump, title, codingSchemeDesignator) == "DCM", let code = text(dump, title, codeValue),
            let meaning = codes[code]
        else { return .notARejectionNote }
        let sop = text(dump, top, .sopInstanceUID) ?? ""
        guard let evidence = top.first(where: { $0.tag == evidenceSequence }), !evidence.items.isEmpty else {
            throw RejectionNoteError(
                "rejection note \(sop) (\(code) \(meaning)) has no Current Requested Procedure Evidence Sequence "
                    + "(0040,A375): it names nothing to reject")
        }
        var references: [Reference] = []
        for (i, item) in evidence.items.enumerated() {
            guard let study = text(dump, item, .studyInstanceUID) else {
                throw RejectionNoteError(
                    "rejection note \(sop): evidence item \(i + 1) has no Study Instance UID (0020,000D)")
            }
            let series = item.first { $0.tag == referencedSeriesSequence }?.items ?? []
            guard !series.isEmpty else {
                throw RejectionNoteError(
                    "rejection note \(sop): evidence item \(i + 1) has no Referenced Series Sequence (0008,1115)")
            }
            for seriesItem in series {
                guard let seriesUID = text(dump, seriesItem, .seriesInstanceUID) else {
                    throw RejectionNoteError(
                        "rejection note \(sop): a referenced series of study \(study) has no Series Instance UID "
                            + "(0020,000E)")
                }
                let sops = seriesItem.first { $0.tag == referencedSOPSequence }?.items ?? []
                guard !sops.isEmpty else {
                    throw RejectionNoteError(
                        "rejection note \(sop): series \(seriesUID) has no Referenced SOP Sequence (0008,1199)")
                }
                for sopItem in sops {
                    guard let instance = text(dump, sopItem, referencedSOPInstanceUID) else {
                        throw RejectionNoteError(
                            "rejection note \(sop): an item of series \(seriesUID) has no Referenced SOP Instance "
                                + "UID (0008,1155)")
                    }
                    references.append(Reference(studyUID: study, seriesUID: seriesUID, sopInstanceUID: instance))
                }
            }
        }
        return .rejection(RejectionNote(sopInstanceUID: sop, code: code, meaning: meaning, instances: references))
    }

    /// Concept Name Code Sequence: the document title.
    static let conceptNameCodeSequence = Tag(0x0040, 0xA043)
    /// Current Requested Procedure Evidence Sequence.
    static let evidenceSequence = Tag(0x0040, 0xA375)
    static let referencedSeriesSequence = Tag(0x0008, 0x1115)
    static let referencedSOPSequence = Tag(0x0008, 0x1199)
    static let referencedSOPInstanceUID = Tag(0x0008, 0x1155)
    static let codeValue = Tag(0x0008, 0x0100)
    static let codingSchemeDesignator = Tag(0x0008, 0x0102)

    /// The first value of a string element among `elements`, unpadded; nil when absent or empty.
    private static func text(_ dump: DataSetDump, _ elements: [DataSetDump.Element], _ tag: Tag) -> String? {
        guard let element = elements.first(where: { $0.tag == tag }),
            let value = dump.strings(element).first, !value.isEmpty
        else { return nil }
        return value
    }
}

/// A rejection note that cannot be applied: what is missing, naming the note and the element.
public struct RejectionNoteError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public let description: String

    init(_ description: String) { self.description = description }
}
