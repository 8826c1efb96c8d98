/// The abstract and transfer syntaxes the node accepts (PS3.4 Annex B.5, C.6; PS3.6 Annex A).
package enum SOPClasses {
    package static let verification = "1.2.840.10008.1.1"
    package static let patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
    package static let studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"
    package static let patientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
    package static let studyRootMove = "1.2.840.10008.5.1.4.1.2.2.2"

    /// Storage SOP classes: CT, MR, CR, DX, MG, US, NM, PET, XA, RF, SC, SR and RT, plus the
    /// presentation states and key object selections a PACS sends along with a study.
    package static let storage: [String: String] = [
        "1.2.840.10008.5.1.4.1.1.2": "CT Image",
        "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image",
        "1.2.840.10008.5.1.4.1.1.4": "MR Image",
        "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image",
        "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image",
        "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image (For Presentation)",
        "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image (For Processing)",
        "1.2.840.10008.5.1.4.1.1.1.2": "Digital Mammography X-Ray Image (For Presentation)",
        "1.2.840.10008.5.1.4.1.1.1.2.1": "Digital Mammography X-Ray Image (For Processing)",
        "1.2.840.10008.5.1.4.1.1.13.1.3": "Breast Tomosynthesis Image",
        "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image",
        "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image",
        "1.2.840.10008.5.1.4.1.1.20": "Nuclear Medicine Image",
        "1.2.840.10008.5.1.4.1.1.128": "Positron Emission Tomography Image",
        "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET Image",
        "1.2.840.10008.5.1.4.1.1.12.1": "X-Ray Angiographic Image",
        "1.2.840.10008.5.1.4.1.1.12.1.1": "Enhanced XA Image",
        "1.2.840.10008.5.1.4.1.1.12.2": "X-Ray Radiofluoroscopic Image",
        "1.2.840.10008.5.1.4.1.1.12.2.1": "Enhanced XRF Image",
        "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
        "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image",
        "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
        "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
        "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
        "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
        "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
        "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
        "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
        "1.2.840.10008.5.1.4.1.1.88.59": "Key Object Selection Document",
        "1.2.840.10008.5.1.4.1.1.88.67": "X-Ray Radiation Dose SR",
        "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
        "1.2.840.10008.5.1.4.1.1.481.1": "RT Image",
        "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose",
        "1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set",
        "1.2.840.10008.5.1.4.1.1.481.4": "RT Beams Treatment Record",
        "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan",
        "1.2.840.10008.5.1.4.1.1.481.7": "RT Treatment Summary Record",
        "1.2.840.10008.5.1.4.1.1.481.8": "RT Ion Plan",
    ]

    /// Uncompressed syntaxes: the only ones a C-ECHO, C-FIND or C-MOVE needs.
    package static let uncompressed: Set<String> = [
        "1.2.840.10008.1.2",  // Implicit VR Little Endian
        "1.2.840.10008.1.2.1",  // Explicit VR Little Endian
        "1.2.840.10008.1.2.2",  // Explicit VR Big Endian (retired, still met)
    ]

    /// Syntaxes a C-STORE may arrive in. The data set is stored as it arrives: never transcoded.
    package static let storageTransferSyntaxes: Set<String> = uncompressed.union([
        "1.2.840.10008.1.2.1.99",  // Deflated Explicit VR Little Endian
        "1.2.840.10008.1.2.4.50",  // JPEG Baseline (Process 1)
        "1.2.840.10008.1.2.4.51",  // JPEG Extended (Process 2 & 4)
        "1.2.840.10008.1.2.4.57",  // JPEG Lossless, Non-Hierarchical (Process 14)
        "1.2.840.10008.1.2.4.70",  // JPEG Lossless, Non-Hierarchical, First-Order Prediction (SV1)
        "1.2.840.10008.1.2.4.80",  // JPEG-LS Lossless
        "1.2.840.10008.1.2.4.81",  // JPEG-LS Lossy (Near-Lossless)
        "1.2.840.10008.1.2.4.90",  // JPEG 2000 (Lossless Only)
        "1.2.840.10008.1.2.4.91",  // JPEG 2000
        "1.2.840.10008.1.2.4.201",  // High-Throughput JPEG 2000 (Lossless Only)
        "1.2.840.10008.1.2.4.202",  // High-Throughput JPEG 2000 with RPCL Options (Lossless Only)
        "1.2.840.10008.1.2.4.203",  // High-Throughput JPEG 2000
        "1.2.840.10008.1.2.5",  // RLE Lossless
    ])

    /// What the node does on a presentation context of this abstract syntax, if it accepts it.
    package enum Service: Sendable, Equatable {
        case verification, storage, find, move
    }

    package static func service(for abstractSyntax: String) -> Service? {
        switch abstractSyntax {
        case verification: .verification
        case patientRootFind, studyRootFind: .find
        case patientRootMove, studyRootMove: .move
        default: storage[abstractSyntax] != nil ? .storage : nil
        }
    }

    /// The transfer syntaxes accepted for a service.
    package static func transferSyntaxes(for service: Service) -> Set<String> {
        service == .storage ? storageTransferSyntaxes : uncompressed
    }
}
