/// How the data elements at one level are encoded (PS3.5 §7.1): VR explicit or implicit, byte order.
struct Encoding: Sendable {
    var explicitVR: Bool
    var bigEndian: Bool

    static let implicitLittleEndian = Encoding(explicitVR: false, bigEndian: false)
    static let explicitLittleEndian = Encoding(explicitVR: true, bigEndian: false)
    static let explicitBigEndian = Encoding(explicitVR: true, bigEndian: true)
}

/// Which data set the parser is in, which decides what it keeps.
enum ParseContext {
    /// The File Meta Information, group 0002 (PS3.10 §7.1).
    case meta
    /// The top level of the data set.
    case topLevel
    /// An item of Other Patient IDs Sequence (0010,1002).
    case otherPatientIDsItem
    /// An item of Issuer of Patient ID Qualifiers Sequence (0010,0024) inside such an item.
    case issuerQualifiersItem
    /// Anywhere else: values are skipped.
    case ignored
}

/// The values kept from one sequence item.
struct ItemFields {
    var patientID: [UInt8]?
    var issuer: [UInt8]?
    var universalEntityID: [UInt8]?
}

/// Raw values the walk keeps, decoded once the walk has ended and the character set is known.
struct Collected {
    var top = [[UInt8]?](repeating: nil, count: KeptAttribute.allCases.count)
    /// Byte order of the top-level data set, for binary (US) values.
    var topBigEndian = false
    var transferSyntaxUID: [UInt8]?
    var metaElementCount = 0
    var otherPatientIDItems: [ItemFields] = []
    var pixelDataOffset: Int?
}

/// Walks a data set element by element: keeps the few values it needs, skips the rest, and checks the
/// structure (lengths, VRs, items, delimiters, nesting) all the way to the end of the input.
struct DataSetParser<Source: ByteSource> {
    var input: Input<Source>
    var collected = Collected()
    /// False inside a deflated data set, whose offsets are not file offsets.
    var recordsPixelDataOffset = true

    /// Deepest sequence nesting accepted; real files rarely pass 5.
    static var maximumDepth: Int { 64 }
    /// Longest value kept; the kept attributes are short strings and numbers (PS3.5 §6.2 limits LO to 64
    /// characters), so a longer one means a damaged or hostile file.
    static var keptValueLimit: Int { 1 << 20 }

    init(input: Input<Source>) {
        self.input = input
    }

    // MARK: Levels

    /// Parses the File Meta Information: Explicit VR Little Endian elements while the group is 0002
    /// (PS3.10 §7.1).
    mutating func parseMetaGroup() throws(DICOMError) {
        var fields = ItemFields()
        while try input.ensure(2), input.uint16(0, bigEndian: false) == 0x0002 {
            _ = try parseElement(
                encoding: .explicitLittleEndian, end: nil, delimited: false, depth: 0, context: .meta,
                fields: &fields)
            collected.metaElementCount += 1
        }
    }

    /// Parses the top-level data set to the end of the input.
    mutating func parseTopLevel(encoding: Encoding) throws(DICOMError) {
        collected.topBigEndian = encoding.bigEndian
        var fields = ItemFields()
        try parseElements(encoding: encoding, end: nil, delimited: false, depth: 0, context: .topLevel, fields: &fields)
    }

    /// Parses data elements up to `end` (a defined-length item), to an Item Delimitation Item (`delimited`,
    /// an undefined-length item, PS3.5 §7.5.1), or to the end of the input (the top level).
    private mutating func parseElements(
        encoding: Encoding, end: Int?, delimited: Bool, depth: Int, context: ParseContext, fields: inout ItemFields
    ) throws(DICOMError) {
        while true {
            if let end {
                if input.offset == end { return }
                if input.offset > end {
                    throw .invalidLength(
                        at: input.offset, tag: nil, "a data element runs past the end of its item (byte \(end))")
                }
            } else if !delimited, try input.isAtEnd() {
                return
            }
            let more = try parseElement(
                encoding: encoding, end: end, delimited: delimited, depth: depth, context: context, fields: &fields)
            if !more { return }
        }
    }

    // MARK: Elements

    /// Parses one data element.
    /// - Returns: false if it was the Item Delimitation Item that ends a `delimited` item.
    private mutating func parseElement(
        encoding: Encoding, end: Int?, delimited: Bool, depth: Int, context: ParseContext, fields: inout ItemFields
    ) throws(DICOMError) -> Bool {
        let headerOffset = input.offset
        guard try input.ensure(8) else { throw truncatedHeader(at: headerOffset, encoding: encoding) }
        let tag = Tag(input.uint16(0, bigEndian: encoding.bigEndian), input.uint16(2, bigEndian: encoding.bigEndian))

        // Delimiters (group FFFE) have a 4-byte length and no VR, even in explicit VR (PS3.5 §7.5).
        if tag.group == 0xFFFE {
            if tag == .itemDelimitationItem && delimited {
                input.consume(8)
                return false
            }
            if tag == .itemDelimitationItem || tag == .item || tag == .sequenceDelimitationItem {
                throw .invalidLength(
                    at: headerOffset, tag: tag, "unexpected \(tag) outside the sequence or item it ends")
            }
            throw .invalidLength(at: headerOffset, tag: tag, "unexpected delimiter group FFFE in a data set")
        }

        var vr: VR?
        var length: UInt32
        if encoding.explicitVR {
            // PS3.5 §7.1.2: tag, VR, then a 16-bit length, or 2 reserved bytes and a 32-bit length.
            guard let explicit = VR(byte0: input.byte(4), byte1: input.byte(5)) else {
                throw .invalidVR(at: headerOffset, tag: tag, bytes: (input.byte(4), input.byte(5)))
            }
            vr = explicit
            if explicit.hasLongLength {
                guard try input.ensure(12) else {
                    throw .truncated(at: headerOffset, tag: tag, "the file ends inside a data element header")
                }
                length = input.uint32(8, bigEndian: encoding.bigEndian)
                input.consume(12)
            } else {
                length = UInt32(input.uint16(6, bigEndian: encoding.bigEndian))
                input.consume(8)
            }
        } else {
            // PS3.5 §7.1.3: tag and a 32-bit length; the VR comes from the data dictionary.
            length = input.uint32(4, bigEndian: encoding.bigEndian)
            vr = Self.implicitVR(of: tag)
            input.consume(8)
        }

        if length == 0xFFFF_FFFF {
            try parseUndefinedLength(
                tag: tag, vr: vr, headerOffset: headerOffset, encoding: encoding, end: end, depth: depth,
                context: context, fields: &fields)
            return true
        }

        let valueLength = Int(length)
        let valueEnd = input.offset + valueLength
        if let end, valueEnd > end {
            throw .invalidLength(
                at: headerOffset, tag: tag,
                "value length \(valueLength) runs past the end of its enclosing item (byte \(end))")
        }
        if vr == .sq {
            try parseSequence(
                tag: tag, headerOffset: headerOffset, encoding: encoding, end: valueEnd, depth: depth,
                context: context, fields: &fields)
            return true
        }
        if let vr, encoding.explicitVR, vr.swapSize > 1, valueLength % vr.swapSize != 0 {
            // PS3.5 §7.1.1: binary values are whole numbers of their size (and every length is even).
            throw .invalidLength(
                at: headerOffset, tag: tag,
                "value length \(valueLength) is not a multiple of \(vr.swapSize) for VR \(vr)")
        }
        if tag == .pixelData && context == .topLevel && recordsPixelDataOffset {
            collected.pixelDataOffset = headerOffset
        }
        try keepOrSkip(tag: tag, length: valueLength, headerOffset: headerOffset, context: context, fields: &fields)
        return true
    }

    /// Handles a value of undefined length: a sequence, UN holding a sequence, or encapsulated pixel data.
    private mutating func parseUndefinedLength(
        tag: Tag, vr: VR?, headerOffset: Int, encoding: Encoding, end: Int?, depth: Int, context: ParseContext,
        fields: inout ItemFields
    ) throws(DICOMError) {
        if vr == .sq || (vr == nil && tag != .pixelData) {
            // Implicit VR: only sequences (and encapsulated pixel data) may have undefined length.
            try parseSequence(
                tag: tag, headerOffset: headerOffset, encoding: encoding, end: nil, depth: depth,
                context: context, fields: &fields, containerEnd: end)
        } else if vr == .un {
            // PS3.5 §6.2.2: UN of undefined length holds a sequence encoded as Implicit VR Little Endian.
            try parseSequence(
                tag: tag, headerOffset: headerOffset, encoding: .implicitLittleEndian, end: nil, depth: depth,
                context: context, fields: &fields, containerEnd: end)
        } else if tag == .pixelData && (vr == nil || vr == .ob || vr == .ow) {
            if context == .topLevel && recordsPixelDataOffset { collected.pixelDataOffset = headerOffset }
            try skipFragments(tag: tag, encoding: encoding, containerEnd: end)
        } else {
            throw .invalidLength(
                at: headerOffset, tag: tag,
                "undefined length is allowed only for SQ, UN and encapsulated Pixel Data, not VR \(vr.map(\.rawValue) ?? "?")"
            )
        }
    }

    // MARK: Sequences

    /// Parses a sequence's items (PS3.5 §7.5): up to `end` if the sequence has a defined length, else up to the
    /// Sequence Delimitation Item.
    private mutating func parseSequence(
        tag: Tag, headerOffset: Int, encoding: Encoding, end: Int?, depth: Int, context: ParseContext,
        fields: inout ItemFields, containerEnd: Int? = nil
    ) throws(DICOMError) {
        guard depth < Self.maximumDepth else {
            throw .nestingTooDeep(at: headerOffset, tag: tag, limit: Self.maximumDepth)
        }
        let itemContext: ParseContext =
            switch (context, tag) {
            case (.topLevel, .otherPatientIDsSequence): .otherPatientIDsItem
            case (.otherPatientIDsItem, .issuerOfPatientIDQualifiersSequence): .issuerQualifiersItem
            default: .ignored
            }
        let limit = end ?? containerEnd
        while true {
            if let end {
                if input.offset == end { return }
                if input.offset > end {
                    throw .invalidLength(
                        at: input.offset, tag: tag, "an item runs past the end of its sequence (byte \(end))")
                }
            }
            let itemOffset = input.offset
            guard try input.ensure(8) else {
                throw .truncated(at: itemOffset, tag: tag, "the file ends inside a sequence, before its end")
            }
            let itemTag = Tag(
                input.uint16(0, bigEndian: encoding.bigEndian), input.uint16(2, bigEndian: encoding.bigEndian))
            let itemLength = input.uint32(4, bigEndian: encoding.bigEndian)
            if itemTag == .sequenceDelimitationItem && end == nil {
                input.consume(8)
                return
            }
            guard itemTag == .item else { throw .missingItem(at: itemOffset, tag: tag, found: itemTag) }
            input.consume(8)
            var itemFields = ItemFields()
            if itemLength == 0xFFFF_FFFF {
                try parseElements(
                    encoding: encoding, end: nil, delimited: true, depth: depth + 1, context: itemContext,
                    fields: &itemFields)
                if let limit, input.offset > limit {
                    throw .invalidLength(
                        at: itemOffset, tag: tag, "an item runs past the end of its enclosing sequence (byte \(limit))")
                }
            } else {
                let itemEnd = input.offset + Int(itemLength)
                if let limit, itemEnd > limit {
                    throw .invalidLength(
                        at: itemOffset, tag: tag,
                        "item length \(itemLength) runs past the end of its enclosing sequence (byte \(limit))")
                }
                try parseElements(
                    encoding: encoding, end: itemEnd, delimited: false, depth: depth + 1, context: itemContext,
                    fields: &itemFields)
            }
            switch itemContext {
            case .otherPatientIDsItem:
                collected.otherPatientIDItems.append(itemFields)
            case .issuerQualifiersItem:
                if fields.universalEntityID == nil { fields.universalEntityID = itemFields.universalEntityID }
            default:
                break
            }
        }
    }

    /// Walks the items of encapsulated pixel data (PS3.5 §A.4) — the Basic Offset Table, then one item per
    /// fragment — skipping their content, up to the Sequence Delimitation Item.
    private mutating func skipFragments(tag: Tag, encoding: Encoding, containerEnd: Int?) throws(DICOMError) {
        while true {
            let itemOffset = input.offset
            guard try input.ensure(8) else {
                throw .truncated(at: itemOffset, tag: tag, "the file ends inside encapsulated pixel data")
            }
            let itemTag = Tag(
                input.uint16(0, bigEndian: encoding.bigEndian), input.uint16(2, bigEndian: encoding.bigEndian))
            let itemLength = input.uint32(4, bigEndian: encoding.bigEndian)
            input.consume(8)
            if itemTag == .sequenceDelimitationItem { return }
            guard itemTag == .item else { throw .missingItem(at: itemOffset, tag: tag, found: itemTag) }
            guard itemLength != 0xFFFF_FFFF else {
                throw .invalidLength(at: itemOffset, tag: tag, "a pixel data fragment has undefined length")
            }
            let length = Int(itemLength)
            if let containerEnd, input.offset + length > containerEnd {
                throw .invalidLength(at: itemOffset, tag: tag, "fragment length \(length) runs past its enclosing item")
            }
            let skipped = try input.skip(length)
            if skipped < length {
                throw .lengthPastEnd(at: itemOffset, tag: tag, length: length, fileSize: input.offset)
            }
        }
    }

    // MARK: Values

    /// Keeps the value if this context wants it, else skips it (seeking where the source can).
    private mutating func keepOrSkip(
        tag: Tag, length: Int, headerOffset: Int, context: ParseContext, fields: inout ItemFields
    ) throws(DICOMError) {
        switch context {
        case .topLevel:
            if let kept = KeptAttribute(rawTag: tag.rawValue) {
                collected.top[kept.rawValue] = try readValue(tag: tag, length: length, headerOffset: headerOffset)
                return
            }
        case .meta:
            if tag == .transferSyntaxUID {
                collected.transferSyntaxUID = try readValue(tag: tag, length: length, headerOffset: headerOffset)
                return
            }
        case .otherPatientIDsItem:
            if tag == .patientID {
                fields.patientID = try readValue(tag: tag, length: length, headerOffset: headerOffset)
                return
            }
            if tag == .issuerOfPatientID {
                fields.issuer = try readValue(tag: tag, length: length, headerOffset: headerOffset)
                return
            }
        case .issuerQualifiersItem:
            if tag == .universalEntityID {
                fields.universalEntityID = try readValue(tag: tag, length: length, headerOffset: headerOffset)
                return
            }
        case .ignored:
            break
        }
        let skipped = try input.skip(length)
        if skipped < length {
            throw .lengthPastEnd(at: headerOffset, tag: tag, length: length, fileSize: input.offset)
        }
    }

    private mutating func readValue(tag: Tag, length: Int, headerOffset: Int) throws(DICOMError) -> [UInt8] {
        guard length <= Self.keptValueLimit else {
            throw .valueTooLarge(at: headerOffset, tag: tag, length: length, limit: Self.keptValueLimit)
        }
        guard let bytes = try input.readBytes(length) else {
            throw .lengthPastEnd(at: headerOffset, tag: tag, length: length, fileSize: input.offset)
        }
        return bytes
    }

    private mutating func truncatedHeader(at offset: Int, encoding: Encoding) -> DICOMError {
        if input.available == 0 {
            return .truncated(at: offset, "the file ends inside an item, before the item's end")
        }
        var tag: Tag?
        if input.available >= 4 {
            tag = Tag(input.uint16(0, bigEndian: encoding.bigEndian), input.uint16(2, bigEndian: encoding.bigEndian))
        }
        return .truncated(at: offset, tag: tag, "the file ends inside a data element header")
    }

    /// The VR of a tag in Implicit VR data sets, where the header does not say (PS3.5 §7.1.3). Only the
    /// sequences the reader looks into are listed; other sequences of defined length are skipped whole.
    private static func implicitVR(of tag: Tag) -> VR? {
        switch tag.rawValue {
        case Tag.otherPatientIDsSequence.rawValue, Tag.issuerOfPatientIDQualifiersSequence.rawValue: .sq
        default: nil
        }
    }
}
