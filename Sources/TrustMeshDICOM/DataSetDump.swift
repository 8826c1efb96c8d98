/// Every data element of a Part 10 file, values included up to a size limit, for renderings such as
/// DICOM JSON metadata (PS3.18 F.2) where the caller wants the whole header, not just the indexed
/// attributes ``DICOMReader`` keeps.
///
/// Values longer than the limit, and Pixel Data whatever its size, are left out (``Element/omittedLength``)
/// by skipping them, so memory follows the header, not the image. Sequences (defined or undefined
/// length, and UN of undefined length, PS3.5 §6.2.2) are walked into their items. In Implicit VR
/// files the VR comes from a small dictionary of common attributes (``implicitVR(of:)``); others are UN.
/// Files without File Meta Information and deflated files are not handled (they throw), and
/// callers fall back to ``DICOMReader``.
///
/// ```swift
/// var source = try FileByteSource(path: path)
/// let dump = try DataSetDump.read(source: &source)
/// for element in dump.elements { print(element.tag, element.vr, dump.strings(element)) }
/// ```
public struct DataSetDump: Sendable {
    /// One data element.
    public struct Element: Sendable {
        public var tag: Tag
        /// From the file (explicit VR), the dictionary (implicit VR), else UN.
        public var vr: VR
        /// The value as stored; nil for a sequence and for a value left out.
        public var bytes: [UInt8]?
        /// A sequence's items, each a list of elements.
        public var items: [[Element]]
        /// The length of a value left out (-1: encapsulated, undefined length).
        public var omittedLength: Int?
    }

    /// The File Meta Information (group 0002).
    public var meta: [Element]
    /// The data set's elements in file order.
    public var elements: [Element]
    /// Whether binary values of ``elements`` are big-endian (Explicit VR Big Endian).
    public var bigEndian: Bool
    let characterSet: SpecificCharacterSet

    /// Reads a Part 10 file from a byte source.
    /// - Parameters:
    ///   - source: the file, from its first byte.
    ///   - valueLimit: values longer than this are left out.
    /// - Throws: ``DICOMError`` for a damaged file, and for files without File Meta Information or
    ///   with a deflated data set (not handled here).
    public static func read<S: ByteSource>(source: inout S, valueLimit: Int = 64 << 10) throws(DICOMError)
        -> DataSetDump
    {
        var walker = Walker(input: Input(source: source), valueLimit: valueLimit)
        guard try walker.input.ensure(132), walker.isDICM(at: 128) else {
            throw .missingMetaInformation(at: 0, "a full dump needs a Part 10 file with preamble and DICM prefix")
        }
        walker.input.consume(132)
        var meta: [Element] = []
        while try walker.input.ensure(2), walker.input.uint16(0, bigEndian: false) == 0x0002 {
            if let element = try walker.element(encoding: .explicitLittleEndian, delimited: false, depth: 0) {
                meta.append(element)
            }
        }
        guard let uidBytes = meta.first(where: { $0.tag == .transferSyntaxUID })?.bytes,
            let uid = SpecificCharacterSet.defaultRepertoire.decode(uidBytes)
        else {
            throw .missingMetaInformation(at: walker.input.offset, tag: .transferSyntaxUID, "no Transfer Syntax UID")
        }
        let syntax = TransferSyntax(uid: uid)
        if syntax.isDeflated { throw .deflate(at: walker.input.offset, "a full dump does not inflate data sets") }
        let encoding: Encoding =
            !syntax.isExplicitVR
            ? .implicitLittleEndian : syntax.isBigEndian ? .explicitBigEndian : .explicitLittleEndian
        var elements: [Element] = []
        while !(try walker.input.isAtEnd()) {
            if let element = try walker.element(encoding: encoding, delimited: false, depth: 0) {
                elements.append(element)
            }
        }
        let charset = SpecificCharacterSet(rawValue: elements.first { $0.tag == .specificCharacterSet }?.bytes)
        source = walker.input.source
        return DataSetDump(meta: meta, elements: elements, bigEndian: encoding.bigEndian, characterSet: charset)
    }

    /// The values of a string element (AE, AS, CS, DA, DS, DT, IS, LO, LT, PN, SH, ST, TM, UC, UI, UR,
    /// UT), decoded with the file's Specific Character Set where the VR uses it, unpadded, and split
    /// on backslashes for the VRs that may hold several values (PS3.5 §6.4). Empty for other VRs.
    public func strings(_ element: Element) -> [String] {
        guard element.vr.isString, let bytes = element.bytes else { return [] }
        let charset = element.vr.usesSpecificCharacterSet ? characterSet : .defaultRepertoire
        switch element.vr {
        case .lt, .st, .ut, .ur:
            return charset.decode(bytes).map { [$0] } ?? []
        default:
            return bytes.split(separator: 0x5C, omittingEmptySubsequences: false).map {
                charset.decode(Array($0)) ?? ""
            }
        }
    }

    /// The VR of common attributes, for Implicit VR Little Endian data sets where the file does not say.
    static func implicitVR(of tag: Tag) -> VR? {
        if tag.element == 0 { return .ul }  // group length
        if tag.isPrivate { return nil }
        return dictionary[tag.rawValue]
    }

    private static let dictionary: [UInt32: VR] = {
        var table: [UInt32: VR] = [:]
        let entries: [(VR, [UInt32])] = [
            (
                .cs,
                [
                    0x0008_0005, 0x0008_0008, 0x0008_0060, 0x0008_0061, 0x0008_0064, 0x0010_0040, 0x0018_0015,
                    0x0018_5100, 0x0020_0020, 0x0020_0060, 0x0028_0004, 0x0028_2110, 0x0028_2114, 0x0028_0301,
                ]
            ),
            (
                .da,
                [0x0008_0012, 0x0008_0020, 0x0008_0021, 0x0008_0022, 0x0008_0023, 0x0010_0030, 0x0040_0244]
            ),
            (
                .tm,
                [0x0008_0013, 0x0008_0030, 0x0008_0031, 0x0008_0032, 0x0008_0033, 0x0040_0245]
            ),
            (
                .ui,
                [
                    0x0008_0016, 0x0008_0018, 0x0008_1150, 0x0008_1155, 0x0020_000D, 0x0020_000E, 0x0020_0052,
                ]
            ),
            (.sh, [0x0008_0050, 0x0008_0100, 0x0008_0102, 0x0008_1010, 0x0018_1160, 0x0020_0010, 0x0040_0253]),
            (
                .lo,
                [
                    0x0008_0070, 0x0008_0080, 0x0008_0104, 0x0008_1030, 0x0008_103E, 0x0008_1090, 0x0010_0020,
                    0x0010_0021, 0x0010_1000, 0x0018_1020, 0x0018_1030, 0x0020_1040, 0x0028_1054, 0x0032_1060,
                    0x0040_0254,
                ]
            ),
            (.pn, [0x0008_0090, 0x0010_0010, 0x0032_1032]),
            (
                .ds,
                [
                    0x0010_1020, 0x0010_1030, 0x0018_0050, 0x0018_0060, 0x0018_0088, 0x0018_1110, 0x0018_1111,
                    0x0018_1120, 0x0018_1130, 0x0020_0032, 0x0020_0037, 0x0020_1041, 0x0028_0030, 0x0028_1050,
                    0x0028_1051, 0x0028_1052, 0x0028_1053, 0x0028_2112,
                ]
            ),
            (
                .is,
                [
                    0x0018_1150, 0x0018_1151, 0x0018_1152, 0x0020_0011, 0x0020_0012, 0x0020_0013, 0x0028_0008,
                    0x0028_0034,
                ]
            ),
            (
                .us,
                [
                    0x0028_0002, 0x0028_0006, 0x0028_0010, 0x0028_0011, 0x0028_0100, 0x0028_0101, 0x0028_0102,
                    0x0028_0103,
                ]
            ),
            (.as, [0x0010_1010]),
            (.st, [0x0008_2111]),
            (.lt, [0x0020_4000]),
            (.at, [0x0028_0009]),
            (
                .sq,
                [
                    0x0008_1140, 0x0010_1002, 0x0010_0024, 0x0040_0275, 0x0008_1115, 0x0008_1111, 0x0008_1032,
                    0x0008_1199, 0x0040_A043, 0x0040_A375,
                ]
            ),
            (.ow, [0x7FE0_0010]),
        ]
        for (vr, tags) in entries { for tag in tags { table[tag] = vr } }
        return table
    }()

    /// The walk itself: structure as ``DataSetParser`` checks it, values kept up to the limit.
    private struct Walker<S: ByteSource> {
        var input: Input<S>
        let valueLimit: Int
        static var maximumDepth: Int { 64 }

        func isDICM(at index: Int) -> Bool {
            input.byte(index) == 0x44 && input.byte(index + 1) == 0x49 && input.byte(index + 2) == 0x43
                && input.byte(index + 3) == 0x4D
        }

        /// One element; nil for the Item Delimitation Item that ends a `delimited` item.
        mutating func element(encoding: Encoding, delimited: Bool, depth: Int) throws(DICOMError) -> Element? {
            let offset = input.offset
            guard try input.ensure(8) else {
                throw .truncated(at: offset, "the file ends inside a data element header")
            }
            let big = encoding.bigEndian
            let tag = Tag(input.uint16(0, bigEndian: big), input.uint16(2, bigEndian: big))
            if tag.group == 0xFFFE {
                if tag == .itemDelimitationItem && delimited {
                    input.consume(8)
                    return nil
                }
                throw .invalidLength(at: offset, tag: tag, "unexpected delimiter group FFFE in a data set")
            }
            var vr: VR
            let length: UInt32
            if encoding.explicitVR {
                guard let explicit = VR(byte0: input.byte(4), byte1: input.byte(5)) else {
                    throw .invalidVR(at: offset, tag: tag, bytes: (input.byte(4), input.byte(5)))
                }
                vr = explicit
                if explicit.hasLongLength {
                    guard try input.ensure(12) else {
                        throw .truncated(at: offset, tag: tag, "the file ends inside a data element header")
                    }
                    length = input.uint32(8, bigEndian: big)
                    input.consume(12)
                } else {
                    length = UInt32(input.uint16(6, bigEndian: big))
                    input.consume(8)
                }
            } else {
                length = input.uint32(4, bigEndian: big)
                vr = DataSetDump.implicitVR(of: tag) ?? .un
                input.consume(8)
            }
            var element = Element(tag: tag, vr: vr, bytes: nil, items: [], omittedLength: nil)
            if length == 0xFFFF_FFFF {
                if tag == .pixelData {
                    try skipFragments(tag: tag, encoding: encoding)
                    element.omittedLength = -1
                } else if vr == .sq || vr == .un {
                    // UN of undefined length holds Implicit VR Little Endian items (PS3.5 §6.2.2).
                    let itemEncoding = vr == .un ? .implicitLittleEndian : encoding
                    element.vr = .sq
                    element.items = try items(tag: tag, encoding: itemEncoding, end: nil, depth: depth, at: offset)
                } else {
                    throw .invalidLength(at: offset, tag: tag, "undefined length for VR \(vr)")
                }
                return element
            }
            let count = Int(length)
            if vr == .sq {
                element.items = try items(
                    tag: tag, encoding: encoding, end: input.offset + count, depth: depth, at: offset)
            } else if tag == .pixelData || count > valueLimit {
                guard try input.skip(count) == count else {
                    throw .lengthPastEnd(at: offset, tag: tag, length: count, fileSize: input.offset)
                }
                element.omittedLength = count
            } else {
                guard let bytes = try input.readBytes(count) else {
                    throw .lengthPastEnd(at: offset, tag: tag, length: count, fileSize: input.offset)
                }
                element.bytes = bytes
            }
            return element
        }

        mutating func items(tag: Tag, encoding: Encoding, end: Int?, depth: Int, at offset: Int) throws(DICOMError)
            -> [[Element]]
        {
            guard depth < Self.maximumDepth else {
                throw .nestingTooDeep(at: offset, tag: tag, limit: Self.maximumDepth)
            }
            var result: [[Element]] = []
            let big = encoding.bigEndian
            while true {
                if let end {
                    if input.offset == end { return result }
                    if input.offset > end {
                        throw .invalidLength(at: input.offset, tag: tag, "an item runs past the end of its sequence")
                    }
                }
                let itemOffset = input.offset
                guard try input.ensure(8) else {
                    throw .truncated(at: itemOffset, tag: tag, "the file ends inside a sequence")
                }
                let itemTag = Tag(input.uint16(0, bigEndian: big), input.uint16(2, bigEndian: big))
                let itemLength = input.uint32(4, bigEndian: big)
                if itemTag == .sequenceDelimitationItem && end == nil {
                    input.consume(8)
                    return result
                }
                guard itemTag == .item else { throw .missingItem(at: itemOffset, tag: tag, found: itemTag) }
                input.consume(8)
                var item: [Element] = []
                if itemLength == 0xFFFF_FFFF {
                    while let element = try element(encoding: encoding, delimited: true, depth: depth + 1) {
                        item.append(element)
                    }
                } else {
                    let itemEnd = input.offset + Int(itemLength)
                    while input.offset < itemEnd {
                        if let element = try element(encoding: encoding, delimited: false, depth: depth + 1) {
                            item.append(element)
                        }
                    }
                    if input.offset > itemEnd {
                        throw .invalidLength(at: itemOffset, tag: tag, "an element runs past the end of its item")
                    }
                }
                result.append(item)
            }
        }

        mutating func skipFragments(tag: Tag, encoding: Encoding) throws(DICOMError) {
            while true {
                let itemOffset = input.offset
                guard try input.ensure(8) else {
                    throw .truncated(at: itemOffset, tag: tag, "the file ends inside encapsulated pixel data")
                }
                let itemTag = Tag(
                    input.uint16(0, bigEndian: encoding.bigEndian), input.uint16(2, bigEndian: encoding.bigEndian))
                let length = Int(input.uint32(4, bigEndian: encoding.bigEndian))
                input.consume(8)
                if itemTag == .sequenceDelimitationItem { return }
                guard itemTag == .item, length != 0xFFFF_FFFF else {
                    throw .missingItem(at: itemOffset, tag: tag, found: itemTag)
                }
                guard try input.skip(length) == length else {
                    throw .lengthPastEnd(at: itemOffset, tag: tag, length: length, fileSize: input.offset)
                }
            }
        }
    }
}
