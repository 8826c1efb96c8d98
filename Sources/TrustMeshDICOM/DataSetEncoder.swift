/// Encodes data elements in one transfer syntax's encoding (PS3.5 §7.1): headers, padding, byte order.
struct DataSetEncoder {
    var out: [UInt8] = []
    let explicitVR: Bool
    let bigEndian: Bool
    /// Whether text VRs that use the Specific Character Set are encoded as ISO 8859-1 (ISO_IR 100).
    let latin1: Bool

    init(transferSyntax: TransferSyntax, latin1: Bool) {
        explicitVR = transferSyntax.isExplicitVR
        bigEndian = transferSyntax.isBigEndian
        self.latin1 = latin1
    }

    private init(explicitVR: Bool, bigEndian: Bool, latin1: Bool) {
        self.explicitVR = explicitVR
        self.bigEndian = bigEndian
        self.latin1 = latin1
    }

    /// Encodes `elements` sorted by tag (PS3.5 §7.1: ascending order), equal tags in their given order.
    mutating func elements(_ elements: [DataElement]) throws(DICOMError) {
        let sorted = elements.enumerated().sorted { a, b in
            a.element.tag != b.element.tag ? a.element.tag < b.element.tag : a.offset < b.offset
        }
        for (_, item) in sorted { try element(item) }
    }

    mutating func element(_ element: DataElement) throws(DICOMError) {
        let tag = element.tag
        let vr = element.vr
        switch element.value {
        case .bytes(let bytes):
            try header(tag: tag, vr: vr, length: try length(bytes.count, tag: tag, vr: vr))
            if bigEndian && vr.swapSize > 1 {
                guard bytes.count % vr.swapSize == 0 else {
                    throw .unencodable(tag: tag, "\(bytes.count) bytes are not whole \(vr) numbers to swap")
                }
                appendSwapped(bytes, size: vr.swapSize)
            } else {
                out.append(contentsOf: bytes)
            }
        case .string(let text):
            var bytes = try encodeText(text, tag: tag, vr: vr)
            // PS3.5 §6.2: values are padded to even length, UI with NUL and other strings with a space.
            if bytes.count % 2 == 1 { bytes.append(vr == .ui ? 0x00 : 0x20) }
            try header(tag: tag, vr: vr, length: try length(bytes.count, tag: tag, vr: vr))
            out.append(contentsOf: bytes)
        case .uint16(let values):
            try header(tag: tag, vr: vr, length: try length(values.count * 2, tag: tag, vr: vr))
            out.reserveCapacity(out.count + values.count * 2)
            if bigEndian {
                for value in values { append16(value) }
            } else {
                values.withUnsafeBytes { raw in
                    #if _endian(little)
                        out.append(contentsOf: raw)
                    #else
                        for value in values { append16(value) }
                    #endif
                }
            }
        case .uint32(let values):
            try header(tag: tag, vr: vr, length: try length(values.count * 4, tag: tag, vr: vr))
            for value in values { append32(value) }
        case .sequence(let items, let undefinedLength):
            guard vr == .sq else { throw .unencodable(tag: tag, "a sequence value needs VR SQ, not \(vr)") }
            try sequence(tag: tag, items: items, undefinedLength: undefinedLength)
        case .fragments(let fragments):
            // PS3.5 §A.4: undefined length, an (empty) Basic Offset Table item, fragments, a delimiter.
            guard tag == .pixelData else { throw .unencodable(tag: tag, "only Pixel Data holds fragments") }
            try header(tag: tag, vr: vr == .ow ? .ow : .ob, length: 0xFFFF_FFFF)
            delimiter(.item, length: 0)
            for fragment in fragments {
                let padded = fragment.count + fragment.count % 2
                guard padded < 0xFFFF_FFFF else { throw .unencodable(tag: tag, "a fragment is over 4 GiB") }
                delimiter(.item, length: UInt32(padded))
                out.append(contentsOf: fragment)
                if fragment.count % 2 == 1 { out.append(0) }
            }
            delimiter(.sequenceDelimitationItem, length: 0)
        }
    }

    private mutating func sequence(tag: Tag, items: [[DataElement]], undefinedLength: Bool) throws(DICOMError) {
        // PS3.5 §7.5.1: items are (FFFE,E000) with their length, or undefined length ended by (FFFE,E00D);
        // a sequence of undefined length ends with (FFFE,E0DD).
        var body = DataSetEncoder(explicitVR: explicitVR, bigEndian: bigEndian, latin1: latin1)
        for item in items {
            if undefinedLength {
                body.delimiter(.item, length: 0xFFFF_FFFF)
                try body.elements(item)
                body.delimiter(.itemDelimitationItem, length: 0)
            } else {
                var encodedItem = DataSetEncoder(explicitVR: explicitVR, bigEndian: bigEndian, latin1: latin1)
                try encodedItem.elements(item)
                body.delimiter(.item, length: try length(encodedItem.out.count, tag: tag, vr: .sq))
                body.out.append(contentsOf: encodedItem.out)
            }
        }
        if undefinedLength {
            try header(tag: tag, vr: .sq, length: 0xFFFF_FFFF)
            out.append(contentsOf: body.out)
            delimiter(.sequenceDelimitationItem, length: 0)
        } else {
            try header(tag: tag, vr: .sq, length: try length(body.out.count, tag: tag, vr: .sq))
            out.append(contentsOf: body.out)
        }
    }

    /// Writes a data element header (PS3.5 §7.1.2, §7.1.3).
    mutating func header(tag: Tag, vr: VR, length: UInt32) throws(DICOMError) {
        append16(tag.group)
        append16(tag.element)
        if explicitVR {
            let (first, second) = vr.bytes
            out.append(first)
            out.append(second)
            if vr.hasLongLength {
                out.append(0)
                out.append(0)
                append32(length)
            } else {
                guard length <= 0xFFFF else {
                    throw .unencodable(tag: tag, "value length \(length) does not fit VR \(vr)'s 16-bit length field")
                }
                append16(UInt16(length))
            }
        } else {
            append32(length)
        }
    }

    private mutating func delimiter(_ tag: Tag, length: UInt32) {
        append16(tag.group)
        append16(tag.element)
        append32(length)
    }

    private func length(_ count: Int, tag: Tag, vr: VR) throws(DICOMError) -> UInt32 {
        guard count < 0xFFFF_FFFF else { throw .unencodable(tag: tag, "value of \(count) bytes is over 4 GiB") }
        return UInt32(count)
    }

    private func encodeText(_ text: String, tag: Tag, vr: VR) throws(DICOMError) -> [UInt8] {
        guard latin1 && vr.usesSpecificCharacterSet else { return Array(text.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else {
                throw .unencodable(
                    tag: tag, "character U+\(String(scalar.value, radix: 16, uppercase: true)) is not in ISO_IR 100")
            }
            bytes.append(UInt8(scalar.value))
        }
        return bytes
    }

    private mutating func appendSwapped(_ bytes: [UInt8], size: Int) {
        out.reserveCapacity(out.count + bytes.count)
        var index = 0
        while index < bytes.count {
            for k in stride(from: size - 1, through: 0, by: -1) { out.append(bytes[index + k]) }
            index += size
        }
    }

    @inline(__always)
    private mutating func append16(_ value: UInt16) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        out.append(UInt8(truncatingIfNeeded: ordered))
        out.append(UInt8(truncatingIfNeeded: ordered >> 8))
    }

    @inline(__always)
    private mutating func append32(_ value: UInt32) {
        let ordered = bigEndian ? value.bigEndian : value.littleEndian
        out.append(UInt8(truncatingIfNeeded: ordered))
        out.append(UInt8(truncatingIfNeeded: ordered >> 8))
        out.append(UInt8(truncatingIfNeeded: ordered >> 16))
        out.append(UInt8(truncatingIfNeeded: ordered >> 24))
    }
}
