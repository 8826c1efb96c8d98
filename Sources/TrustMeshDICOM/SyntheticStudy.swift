#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A deterministic, realistic CT study written as Part 10 files: the demo's, tests' and benchmarks' data.
///
/// Each instance is a 16-bit CT slice (CT Image Storage, 1.2.840.10008.5.1.4.1.1.2) of a smooth phantom —
/// air, a body ellipse of soft tissue (~40 HU) under a fat layer, two lungs (~−800 HU), a heart, a spine
/// (~700 HU) — whose shapes change smoothly from slice to slice, plus Gaussian-like noise (σ ≈ 15 HU)
/// outside a round field of view of padding. Values are stored unsigned with 12 bits stored and Rescale
/// Intercept −1024. At 512 × 512 each file is about 525 KB and `zstd -1` compresses the study about 2.1×,
/// like real CT.
///
/// The Study Instance UID is a fresh random UUID-derived UID unless given; series, frame-of-reference and
/// SOP Instance UIDs are drawn from it and `seed`, and the pixels from `seed` alone. So the same study UID
/// and seed give byte-identical files, and two studies made with defaults never share a UID.
///
/// ```swift
/// let study = SyntheticStudy(patientID: "9434765919", patientName: "Doe^Jane", instancesPerSeries: 300, seed: 7)
/// let paths = try study.write(to: "/tmp/study")
/// ```
public struct SyntheticStudy: Sendable {
    /// Patient ID (0010,0020).
    public var patientID: String
    /// Patient's Name (0010,0010); any non-ASCII character makes the files declare ISO_IR 192 (UTF-8).
    public var patientName: String
    /// Patient's Birth Date (0010,0030).
    public var birthDate: String
    /// Patient's Sex (0010,0040).
    public var sex: String
    /// Study Instance UID (0020,000D); by default a new random UUID-derived UID (PS3.5 §B.2).
    public var studyInstanceUID: String
    /// Study Date (0008,0020).
    public var studyDate: String
    /// Study Time (0008,0030).
    public var studyTime: String
    /// Study Description (0008,1030).
    public var studyDescription: String
    /// Accession Number (0008,0050).
    public var accessionNumber: String
    /// Modality (0008,0060).
    public var modality: String
    /// Body Part Examined (0018,0015).
    public var bodyPart: String
    /// Institution Name (0008,0080).
    public var institutionName: String
    /// Referring Physician's Name (0008,0090).
    public var referringPhysician: String
    /// How many series the study has.
    public var seriesCount: Int
    /// How many instances (slices) each series has.
    public var instancesPerSeries: Int
    /// Rows (0028,0010) of each slice.
    public var rows: Int
    /// Columns (0028,0011) of each slice.
    public var columns: Int
    /// The transfer syntax of the files: any uncompressed one, deflated included.
    public var transferSyntax: TransferSyntax
    /// Seeds the pixel noise and the generated UIDs.
    public var seed: UInt64
    /// Written as Other Patient IDs Sequence (0010,1002) when not empty.
    public var otherPatientIDs: [OtherPatientID]

    /// Creates a study description; nothing is generated until ``write(to:)``.
    /// - Parameters:
    ///   - patientID: Patient ID, e.g. an NHS number.
    ///   - patientName: Patient's Name in PN form, `Family^Given`.
    ///   - instancesPerSeries: Slices per series.
    ///   - seed: Seeds noise and UIDs; equal seeds give identical files.
    ///   - studyInstanceUID: The Study Instance UID; nil makes a new random one.
    ///   - seriesCount: Number of series.
    ///   - rows: Image height.
    ///   - columns: Image width.
    ///   - transferSyntax: An uncompressed transfer syntax.
    ///   - otherPatientIDs: Other identifiers of the patient.
    public init(
        patientID: String, patientName: String = "DOE^JANE", instancesPerSeries: Int = 10, seed: UInt64 = 1,
        studyInstanceUID: String? = nil, birthDate: String = "19700101", sex: String = "F",
        studyDate: String = "20260115", studyTime: String = "093000", studyDescription: String = "CT CHEST",
        accessionNumber: String? = nil, modality: String = "CT", bodyPart: String = "CHEST",
        institutionName: String = "TrustMesh General Hospital", referringPhysician: String = "Referrer^Rita",
        seriesCount: Int = 1, rows: Int = 512, columns: Int = 512,
        transferSyntax: TransferSyntax = .explicitVRLittleEndian, otherPatientIDs: [OtherPatientID] = []
    ) {
        var random = SystemRandomNumberGenerator()
        var generator = SplitMix64(seed: random.next())
        self.patientID = patientID
        self.patientName = patientName
        self.birthDate = birthDate
        self.sex = sex
        self.studyInstanceUID = studyInstanceUID ?? generator.uuidUID()
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber ?? "A\(seed % 100_000_000)"
        self.modality = modality
        self.bodyPart = bodyPart
        self.institutionName = institutionName
        self.referringPhysician = referringPhysician
        self.seriesCount = seriesCount
        self.instancesPerSeries = instancesPerSeries
        self.rows = rows
        self.columns = columns
        self.transferSyntax = transferSyntax
        self.seed = seed
        self.otherPatientIDs = otherPatientIDs
    }

    /// CT Image Storage SOP Class UID (PS3.4 Annex B.5).
    public static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"

    /// Writes the study as Part 10 files, one per instance, into `directory` (created if missing).
    /// - Parameter directory: Where to write; files are named `S01_I0001.dcm` and so on.
    /// - Returns: The files' paths, series by series, in instance order.
    /// - Throws: ``DICOMError`` of kind ``DICOMError/Kind/io`` if writing fails, or
    ///   ``DICOMError/Kind/unencodable`` for a compressed transfer syntax or unsuitable values.
    public func write(to directory: String) throws(DICOMError) -> [String] {
        guard !transferSyntax.isEncapsulated else {
            throw .unencodable(tag: .pixelData, "SyntheticStudy writes uncompressed transfer syntaxes only")
        }
        guard rows > 0, columns > 0, rows <= 0xFFFF, columns <= 0xFFFF, seriesCount >= 0, instancesPerSeries >= 0
        else { throw .unencodable(tag: nil, "rows, columns and counts must be positive and fit 16 bits") }
        try Self.makeDirectories(directory)
        // FNV-1a of the study UID: stable across runs, unlike `hashValue`.
        var studyHash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in studyInstanceUID.utf8 { studyHash = (studyHash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var uids = SplitMix64(seed: studyHash ^ seed)
        let frameOfReferenceUID = uids.uuidUID()
        var paths: [String] = []
        paths.reserveCapacity(seriesCount * instancesPerSeries)
        for series in 0..<seriesCount {
            let seriesUID = uids.uuidUID()
            for instance in 0..<instancesPerSeries {
                let sopInstanceUID = uids.uuidUID()
                let pixels = slice(series: series, instance: instance)
                let dataset = elements(
                    series: series, instance: instance, seriesUID: seriesUID, sopInstanceUID: sopInstanceUID,
                    frameOfReferenceUID: frameOfReferenceUID, pixels: pixels)
                let name = "S\(Self.pad(series + 1, 2))_I\(Self.pad(instance + 1, 4)).dcm"
                let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
                try DICOMWriter.write(
                    dataset, transferSyntax: transferSyntax, to: path, sopClassUID: Self.ctImageStorage,
                    sopInstanceUID: sopInstanceUID)
                paths.append(path)
            }
        }
        return paths
    }

    /// The data set of one instance: the CT Image IOD's mandatory modules (PS3.3 §A.3) and the pixels.
    private func elements(
        series: Int, instance: Int, seriesUID: String, sopInstanceUID: String, frameOfReferenceUID: String,
        pixels: [UInt16]
    ) -> [DataElement] {
        let sliceThickness = 1.25
        let z = -Double(instance) * sliceThickness
        let spacing = 350.0 / Double(max(rows, columns))
        let origin = -175.0
        var dataset: [DataElement] = [
            DataElement(.imageType, .cs, "ORIGINAL\\PRIMARY\\AXIAL"),
            DataElement(.sopClassUID, .ui, .string(Self.ctImageStorage)),
            DataElement(.sopInstanceUID, .ui, .string(sopInstanceUID)),
            DataElement(.studyDate, .da, .string(studyDate)),
            DataElement(.seriesDate, .da, .string(studyDate)),
            DataElement(.contentDate, .da, .string(studyDate)),
            DataElement(.studyTime, .tm, .string(studyTime)),
            DataElement(.seriesTime, .tm, .string(studyTime)),
            DataElement(.contentTime, .tm, .string(studyTime)),
            DataElement(.accessionNumber, .sh, .string(accessionNumber)),
            DataElement(.modality, .cs, .string(modality)),
            DataElement(.manufacturer, .lo, "TrustMesh Synthetic"),
            DataElement(.institutionName, .lo, .string(institutionName)),
            DataElement(.referringPhysicianName, .pn, .string(referringPhysician)),
            DataElement(.studyDescription, .lo, .string(studyDescription)),
            DataElement(.seriesDescription, .lo, .string("AXIAL \(series + 1)")),
            DataElement(.patientName, .pn, .string(patientName)),
            DataElement(.patientID, .lo, .string(patientID)),
            DataElement(.patientBirthDate, .da, .string(birthDate)),
            DataElement(.patientSex, .cs, .string(sex)),
            DataElement(.bodyPartExamined, .cs, .string(bodyPart)),
            DataElement(.sliceThickness, .ds, .string(Self.decimal(sliceThickness))),
            DataElement(.kvp, .ds, "120"),
            DataElement(.patientPosition, .cs, "HFS"),
            DataElement(.studyInstanceUID, .ui, .string(studyInstanceUID)),
            DataElement(.seriesInstanceUID, .ui, .string(seriesUID)),
            DataElement(.studyID, .sh, "1"),
            DataElement(.seriesNumber, .is, .string(String(series + 1))),
            DataElement(.instanceNumber, .is, .string(String(instance + 1))),
            DataElement(
                .imagePositionPatient, .ds,
                .string("\(Self.decimal(origin))\\\(Self.decimal(origin))\\\(Self.decimal(z))")),
            DataElement(.imageOrientationPatient, .ds, "1\\0\\0\\0\\1\\0"),
            DataElement(.frameOfReferenceUID, .ui, .string(frameOfReferenceUID)),
            DataElement(.positionReferenceIndicator, .lo, ""),
            DataElement(.sliceLocation, .ds, .string(Self.decimal(z))),
            DataElement(.samplesPerPixel, .us, .uint16([1])),
            DataElement(.photometricInterpretation, .cs, "MONOCHROME2"),
            DataElement(.rows, .us, .uint16([UInt16(rows)])),
            DataElement(.columns, .us, .uint16([UInt16(columns)])),
            DataElement(.pixelSpacing, .ds, .string("\(Self.decimal(spacing))\\\(Self.decimal(spacing))")),
            DataElement(.bitsAllocated, .us, .uint16([16])),
            DataElement(.bitsStored, .us, .uint16([12])),
            DataElement(.highBit, .us, .uint16([11])),
            DataElement(.pixelRepresentation, .us, .uint16([0])),
            DataElement(.windowCenter, .ds, "40"),
            DataElement(.windowWidth, .ds, "400"),
            DataElement(.rescaleIntercept, .ds, "-1024"),
            DataElement(.rescaleSlope, .ds, "1"),
            DataElement(.rescaleType, .lo, "HU"),
            DataElement(.pixelData, .ow, .uint16(pixels)),
        ]
        let texts =
            [patientName, patientID, institutionName, referringPhysician, studyDescription]
            + otherPatientIDs.flatMap { [$0.patientID, $0.issuer ?? ""] }
        if texts.contains(where: { $0.utf8.contains { $0 >= 0x80 } }) {
            dataset.append(DataElement(.specificCharacterSet, .cs, "ISO_IR 192"))
        }
        if !otherPatientIDs.isEmpty {
            let items = otherPatientIDs.map { other in
                var item = [DataElement(.patientID, .lo, .string(other.patientID))]
                if let issuer = other.issuer { item.append(DataElement(.issuerOfPatientID, .lo, .string(issuer))) }
                item.append(DataElement(.typeOfPatientID, .cs, "TEXT"))
                return item
            }
            dataset.append(DataElement(.otherPatientIDsSequence, .sq, .sequence(items, undefinedLength: false)))
        }
        return dataset
    }

    /// One slice's stored values: HU + 1024, clamped to 12 bits, with 0 (−1024 HU) outside the field of view.
    private func slice(series: Int, instance: Int) -> [UInt16] {
        let count = max(instancesPerSeries, 2)
        // Position along the body, 0 at the top slice; series repeat the volume with a small shift.
        let t = (Double(instance) + 0.37 * Double(series)) / Double(count - 1)
        let wave = sin(Double.pi * t)
        // Anatomy in normalised coordinates, x and y in −1...1, y growing towards the patient's back.
        let bodyA = 0.80 + 0.04 * wave
        let bodyB = 0.58 + 0.03 * wave
        let fatA = bodyA - 0.06
        let fatB = bodyB - 0.06
        let lungScale = max(0, sin(Double.pi * min(1, t * 1.15 + 0.05)))
        let lungA = 0.24 * lungScale + 0.001
        let lungB = 0.34 * lungScale + 0.001
        let lungX = 0.36
        let lungY = -0.02
        let heartR = 0.17 * (0.6 + 0.4 * wave)
        let heartX = 0.08
        let heartY = 0.02
        let spineY = 0.40
        let spineR = 0.085
        let canalR = 0.035
        var noise = SplitMix64(seed: seed &+ UInt64(series) &* 0x1_0000_0001 &+ UInt64(instance) &* 0x9E37_79B9)
        // A sum of four uniform bytes is near Gaussian, σ = sqrt(4 · (256² − 1) / 12) ≈ 147.8.
        let noiseScale = 15.0 / 147.8

        var pixels = [UInt16](repeating: 0, count: rows * columns)
        let rowCount = rows
        let columnCount = columns
        let dx = 2.0 / Double(columnCount)
        let dy = 2.0 / Double(rowCount)
        pixels.withUnsafeMutableBufferPointer { buffer in
            var index = 0
            for r in 0..<rowCount {
                let y = -1 + (Double(r) + 0.5) * dy
                let texture = 12 * sin(3.1 * y + 2 * t)
                var bits: UInt64 = 0
                for c in 0..<columnCount {
                    let x = -1 + (Double(c) + 0.5) * dx
                    if c & 1 == 0 { bits = noise.next() }
                    let shift = UInt64(c & 1) * 32
                    let b = bits >> shift
                    let sum = Int(b & 0xFF) + Int(b >> 8 & 0xFF) + Int(b >> 16 & 0xFF) + Int(b >> 24 & 0xFF)
                    // Outside the round field of view: padding, no noise.
                    if x * x + y * y > 1 {
                        buffer[index] = 0
                        index += 1
                        continue
                    }
                    var hu: Double
                    let bodyX = x / bodyA
                    let bodyY = (y - 0.05) / bodyB
                    let inBody = bodyX * bodyX + bodyY * bodyY
                    if inBody > 1 {
                        hu = -1000
                    } else {
                        let innerX = x / fatA
                        let innerY = (y - 0.05) / fatB
                        if innerX * innerX + innerY * innerY > 1 {
                            hu = -100
                        } else {
                            hu = 40 + texture + 8 * sin(2.3 * x - 1.7 * t)
                            let lx = (abs(x) - lungX) / lungA
                            let ly = (y - lungY) / lungB
                            let lung = lx * lx + ly * ly
                            let hxd = x - heartX
                            let hyd = y - heartY
                            let sx = x
                            let sy = y - spineY
                            let spine = sx * sx + sy * sy
                            if spine < spineR * spineR {
                                hu = spine < canalR * canalR ? 20 : 700 - 2000 * spine
                            } else if hxd * hxd + hyd * hyd < heartR * heartR {
                                hu = 55
                            } else if lung < 1 {
                                hu = -800 + 60 * lung
                            }
                        }
                    }
                    let value = hu + 1024 + Double(sum - 510) * noiseScale
                    buffer[index] = UInt16(min(max(value.rounded(), 0), 4095))
                    index += 1
                }
            }
        }
        return pixels
    }

    /// `mkdir -p`: creates `path` and any missing parents.
    private static func makeDirectories(_ path: String) throws(DICOMError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw .io("mkdir", path: prefix, errno: errno) }
            prefix += "/"
        }
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A decimal string for DS values (PS3.5 §6.2: at most 16 characters).
    private static func decimal(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        if scaled == scaled.rounded() { return String(Int(scaled)) }
        return String(String(scaled).prefix(16))
    }
}
