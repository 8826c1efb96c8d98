/// Reads DICOM Part 10 files as a stream: the attributes the node indexes, without holding any large value.
///
/// The reader handles the 128-byte preamble and `DICM` prefix, the File Meta Information (always Explicit VR
/// Little Endian, PS3.10 §7.1), and data sets in Implicit VR Little Endian, Explicit VR Little Endian,
/// Explicit VR Big Endian, Deflated Explicit VR Little Endian and the encapsulated (compressed) syntaxes
/// (PS3.5 §10, Annex A). Files with no preamble, or no File Meta Information at all, are read too: the
/// data set's encoding is then guessed from its first element.
///
/// It walks every element to the end of the file, so truncation and lengths that run past the end are
/// found, but keeps only the values it needs: others, above all Pixel Data, are skipped by seeking (or by
/// inflating and discarding in deflated files). Memory stays at a few tens of kilobytes whatever the file's
/// size. Malformed input throws ``DICOMError`` naming the byte offset and tag; it never traps.
///
/// ```swift
/// let info = try DICOMReader.read(path: "/data/CT.1.dcm")
/// print(info.attributes.patientID ?? "-", info.transferSyntax.uid, info.pixelDataOffset ?? -1)
/// ```
public enum DICOMReader {
    /// Reads a Part 10 file from disk, seeking past values it does not keep.
    /// - Parameter path: The file's path.
    /// - Returns: The file's attributes and layout.
    /// - Throws: ``DICOMError``: ``DICOMError/Kind/io`` if the file cannot be read, or the kind of damage found.
    public static func read(path: String) throws(DICOMError) -> DICOMFileInfo {
        var source = try FileByteSource(path: path)
        return try read(source: &source)
    }

    /// Reads a Part 10 file (or a bare data set) from any byte source.
    ///
    /// On success the source has been read to its end. After a throw its position is unspecified.
    /// - Parameter source: The input, read from its current position.
    /// - Returns: The file's attributes and layout; ``DICOMFileInfo/fileSize`` counts the bytes read from the
    ///   source's starting position.
    /// - Throws: ``DICOMError`` naming the byte offset, tag and reason of the first problem found.
    public static func read<S: ByteSource>(source: inout S) throws(DICOMError) -> DICOMFileInfo {
        var parser = DataSetParser(input: Input(source: source))
        let (hasPreamble, hasMetaGroup, transferSyntax) = try readPreambleAndMeta(&parser)

        let encoding: Encoding =
            !transferSyntax.isExplicitVR
            ? .implicitLittleEndian : transferSyntax.isBigEndian ? .explicitBigEndian : .explicitLittleEndian
        var collected: Collected
        let fileSize: Int
        if transferSyntax.isDeflated {
            // PS3.5 §A.5: everything after the File Meta Information is one raw deflate stream.
            let metaEnd = parser.input.offset
            let inflating = try InflatingSource(base: parser.input, baseOffset: metaEnd)
            var inner = DataSetParser(input: Input(source: inflating, startOffset: metaEnd))
            inner.collected = parser.collected
            inner.recordsPixelDataOffset = false
            try inner.parseTopLevel(encoding: encoding)
            collected = inner.collected
            // Bytes after the end of the deflate stream (a pad byte to even length) still count to the size.
            var base = inner.input.source.base
            while try base.skip(Int.max / 2) > 0 {}
            fileSize = base.offset
            source = base.source
        } else {
            try parser.parseTopLevel(encoding: encoding)
            collected = parser.collected
            fileSize = parser.input.offset
            source = parser.input.source
        }
        collected.topBigEndian = encoding.bigEndian

        var info = DICOMFileInfo(
            transferSyntax: transferSyntax, hasPreamble: hasPreamble, hasMetaGroup: hasMetaGroup, fileSize: fileSize,
            pixelDataOffset: collected.pixelDataOffset)
        decode(collected, into: &info)
        return info
    }

    /// Where a Part 10 file's data set starts: the bytes before it are the preamble, the `DICM`
    /// prefix and the File Meta Information (PS3.10 §7.1). Only those are read.
    ///
    /// A C-MOVE sends the data set alone, as it is stored: the peer learns the transfer syntax from
    /// the presentation context, not from File Meta Information (PS3.7 §9.1.1.1).
    /// - Parameter source: The file's bytes, from its start.
    /// - Returns: The offset of the data set's first byte; 0 for a bare data set.
    /// - Throws: ``DICOMError`` if the preamble or File Meta Information is damaged.
    public static func dataSetOffset<S: ByteSource>(source: inout S) throws(DICOMError) -> Int {
        var parser = DataSetParser(input: Input(source: source))
        _ = try readPreambleAndMeta(&parser)
        return parser.input.offset
    }

    /// Reads the preamble, `DICM` prefix and File Meta Information, leaving the parser at the data set.
    private static func readPreambleAndMeta<S>(_ parser: inout DataSetParser<S>) throws(DICOMError) -> (
        hasPreamble: Bool, hasMetaGroup: Bool, transferSyntax: TransferSyntax
    ) {
        // PS3.10 §7.1: a 128-byte preamble, then "DICM". Tolerate a bare "DICM" without the preamble.
        var hasPreamble = false
        var hasPrefix = false
        if try parser.input.ensure(132), isDICM(parser.input, at: 128) {
            parser.input.consume(132)
            hasPreamble = true
            hasPrefix = true
        } else if parser.input.available >= 4, isDICM(parser.input, at: 0) {
            parser.input.consume(4)
            hasPrefix = true
        }
        guard try parser.input.ensure(1) else {
            if hasPrefix {
                throw .missingMetaInformation(at: parser.input.offset, "the file ends after the DICM prefix")
            }
            throw .notDICOM(at: 0, "the file is empty")
        }

        // File Meta Information, group 0002, always Explicit VR Little Endian (PS3.10 §7.1).
        let transferSyntax: TransferSyntax
        let hasMetaGroup: Bool
        if try parser.input.ensure(2), parser.input.uint16(0, bigEndian: false) == 0x0002 {
            try parser.parseMetaGroup()
            guard let uid = parser.collected.transferSyntaxUID,
                let text = SpecificCharacterSet.defaultRepertoire.decode(uid)
            else {
                throw .missingMetaInformation(
                    at: parser.input.offset, tag: .transferSyntaxUID,
                    "the File Meta Information has no Transfer Syntax UID")
            }
            transferSyntax = TransferSyntax(uid: text)
            hasMetaGroup = true
            try refuseImplicitUnderExplicit(&parser.input, declared: transferSyntax)
        } else if hasPrefix {
            throw .missingMetaInformation(
                at: parser.input.offset, "the DICM prefix is not followed by File Meta Information (group 0002)")
        } else {
            transferSyntax = try guessTransferSyntax(parser.input)
            hasMetaGroup = false
        }

        return (hasPreamble, hasMetaGroup, transferSyntax)
    }

    private static func isDICM<S>(_ input: Input<S>, at index: Int) -> Bool {
        input.byte(index) == 0x44 && input.byte(index + 1) == 0x49 && input.byte(index + 2) == 0x43
            && input.byte(index + 3) == 0x4D
    }

    /// Guesses the encoding of a data set with no File Meta Information from its first element: a known VR
    /// in bytes 4–5 means Explicit VR Little Endian, else Implicit VR Little Endian (the DICOM default); a
    /// group that reads as 0008–0010 only big-endian, followed by a known VR, means Explicit VR Big Endian
    /// (the retired syntax of PS3.5 §A.3, which dcmtk also recognises this way).
    private static func guessTransferSyntax<S>(_ input: Input<S>) throws(DICOMError) -> TransferSyntax {
        guard input.available >= 8 else {
            throw .notDICOM(at: 0, "the file is too short to hold a data element")
        }
        // Data sets start with group 0008 (SOP Common, Image Type) or at most the patient group 0010.
        let starts: ClosedRange<UInt16> = 0x0008...0x0010
        let explicitVR = VR(byte0: input.byte(4), byte1: input.byte(5)) != nil
        if starts.contains(input.uint16(0, bigEndian: false)) {
            return explicitVR ? .explicitVRLittleEndian : .implicitVRLittleEndian
        }
        if starts.contains(input.uint16(0, bigEndian: true)), explicitVR {
            return .explicitVRBigEndian
        }
        throw .notDICOM(
            at: 0, "no DICM prefix, no File Meta Information, and the first bytes are not a data element")
    }

    /// Refuses a data set whose File Meta Information declares an explicit VR transfer syntax but whose
    /// first element (a data set's first group, 0008–0010) has no VR where one must be (bytes 4–5 are
    /// not a VR): the file was written implicit and labelled explicit.
    ///
    /// pydicom reads such a file as implicit VR with a warning; dcmtk fails on it. The node refuses it
    /// with this reason instead of guessing: every other trust's tools (and a C-MOVE destination) read
    /// the syntax the file declares, so a stored copy would be unreadable to them.
    private static func refuseImplicitUnderExplicit<S>(_ input: inout Input<S>, declared: TransferSyntax)
        throws(DICOMError)
    {
        guard declared.isExplicitVR, !declared.isBigEndian, !declared.isDeflated, try input.ensure(8),
            VR(byte0: input.byte(4), byte1: input.byte(5)) == nil
        else { return }
        let tag = Tag(input.uint16(0, bigEndian: false), input.uint16(2, bigEndian: false))
        guard (0x0008...0x0010).contains(tag.group) else { return }
        throw .implicitVRUnderExplicit(at: input.offset, tag: tag, declared: declared.uid)
    }

    /// Turns the raw kept values into attributes, now that the character set is known.
    private static func decode(_ collected: Collected, into info: inout DICOMFileInfo) {
        let charset = SpecificCharacterSet(rawValue: collected.top[KeptAttribute.specificCharacterSet.rawValue])
        func text(_ kept: KeptAttribute) -> String? {
            collected.top[kept.rawValue].flatMap(charset.decode)
        }
        func number(_ kept: KeptAttribute) -> Double? {
            guard let value = text(kept), let first = value.split(separator: "\\").first else { return nil }
            return Double(first.trimmingPadding())
        }
        func unsigned16(_ kept: KeptAttribute) -> Int? {
            guard let bytes = collected.top[kept.rawValue], bytes.count >= 2 else { return nil }
            let raw = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
            return Int(collected.topBigEndian ? raw.byteSwapped : raw)
        }

        var a = DICOMAttributes()
        a.patientID = text(.patientID)
        a.patientName = text(.patientName)
        a.patientBirthDate = text(.patientBirthDate)
        a.patientSex = text(.patientSex)
        a.studyInstanceUID = text(.studyInstanceUID)
        a.studyDate = text(.studyDate)
        a.studyTime = text(.studyTime)
        a.accessionNumber = text(.accessionNumber)
        a.studyDescription = text(.studyDescription)
        a.referringPhysicianName = text(.referringPhysicianName)
        a.institutionName = text(.institutionName)
        a.modality = text(.modality)
        a.seriesInstanceUID = text(.seriesInstanceUID)
        a.seriesNumber = text(.seriesNumber)
        a.seriesDescription = text(.seriesDescription)
        a.bodyPartExamined = text(.bodyPartExamined)
        a.sopClassUID = text(.sopClassUID)
        a.sopInstanceUID = text(.sopInstanceUID)
        a.instanceNumber = text(.instanceNumber)
        a.numberOfFrames = text(.numberOfFrames)
        a.transferSyntaxUID = collected.transferSyntaxUID.flatMap(SpecificCharacterSet.defaultRepertoire.decode)
        a.specificCharacterSet = text(.specificCharacterSet)

        var others: [OtherPatientID] = []
        func add(_ id: OtherPatientID) {
            if !others.contains(id) { others.append(id) }
        }
        for item in collected.otherPatientIDItems {
            guard let id = item.patientID.flatMap(charset.decode) else { continue }
            let issuer = item.issuer.flatMap(charset.decode) ?? item.universalEntityID.flatMap(charset.decode)
            add(OtherPatientID(patientID: id, issuer: issuer))
        }
        if let retired = text(.otherPatientIDs) {
            let issuer = text(.issuerOfPatientID)
            for value in retired.split(separator: "\\") {
                let id = value.trimmingPadding()
                if !id.isEmpty { add(OtherPatientID(patientID: id, issuer: issuer)) }
            }
        }
        a.otherPatientIDs = others
        info.attributes = a

        info.rows = unsigned16(.rows)
        info.columns = unsigned16(.columns)
        info.bitsAllocated = unsigned16(.bitsAllocated)
        info.bitsStored = unsigned16(.bitsStored)
        info.pixelRepresentation = unsigned16(.pixelRepresentation)
        info.samplesPerPixel = unsigned16(.samplesPerPixel)
        info.photometricInterpretation = text(.photometricInterpretation)
        info.windowCenter = number(.windowCenter)
        info.windowWidth = number(.windowWidth)
        info.rescaleSlope = number(.rescaleSlope)
        info.rescaleIntercept = number(.rescaleIntercept)
    }
}
