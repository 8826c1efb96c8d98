package import NIOCore
package import TrustMeshDICOM

/// The small data sets of a C-FIND (PS3.4 §C.4.1): the request's identifier (keys to match and
/// keys to return) and each pending response's identifier.
///
/// Only top-level elements are kept; sequences are skipped whole (defined or undefined length),
/// so sequence matching is not supported (PS3.4 §C.2.2.2.6 lets an SCP decline it).
package struct QueryDataSet: Sendable, Equatable {
    package struct Element: Sendable, Equatable {
        package var tag: Tag
        /// The VR the request gave (explicit VR syntaxes), or nil.
        package var vr: VR?
        package var value: [UInt8]
    }

    package var elements: [Element]

    package init(elements: [Element]) { self.elements = elements }

    /// Reads a data set encoded in `transferSyntax` (Implicit VR LE, Explicit VR LE or BE).
    /// - Throws: ``DIMSEError`` if an element overruns the data set.
    package static func decode(_ buffer: ByteBuffer, transferSyntax: TransferSyntax) throws(DIMSEError) -> QueryDataSet
    {
        var reader = Reader(
            buffer: buffer, explicit: transferSyntax.isExplicitVR, bigEndian: transferSyntax.isBigEndian)
        var elements: [Element] = []
        while reader.buffer.readableBytes > 0 {
            let (tag, vr, length) = try reader.header()
            if vr == .sq || length == 0xFFFF_FFFF {
                try reader.skipSequence(length: length)
                elements.append(Element(tag: tag, vr: .sq, value: []))
                continue
            }
            guard let value = reader.buffer.readBytes(length: Int(length)) else {
                throw .badDataSet("element \(tag) claims \(length) bytes; \(reader.buffer.readableBytes) remain")
            }
            elements.append(Element(tag: tag, vr: vr, value: value))
        }
        return QueryDataSet(elements: elements)
    }

    /// The element's value as text, padding removed; nil when absent.
    package func string(_ tag: Tag) -> String? {
        guard let element = elements.first(where: { $0.tag == tag }) else { return nil }
        var bytes = element.value[...]
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        while let first = bytes.first, first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Encodes string values in `transferSyntax`, sorted by tag; `nil` values are written empty.
    /// - Parameter vrs: the VR of each element for explicit VR syntaxes (``QueryKeys/vr(of:)`` by default).
    package static func encode(_ values: [(Tag, VR?, String?)], transferSyntax: TransferSyntax) -> ByteBuffer {
        let big = transferSyntax.isBigEndian
        let endianness: Endianness = big ? .big : .little
        var out = ByteBuffer()
        for (tag, givenVR, text) in values.sorted(by: { $0.0 < $1.0 }) {
            let vr = QueryKeys.vr(of: tag) ?? givenVR ?? .un
            var bytes = Array((text ?? "").utf8)
            if vr == .sq { bytes = [] }
            if bytes.count % 2 == 1 { bytes.append(vr == .ui ? 0 : 0x20) }
            out.writeInteger(tag.group, endianness: endianness)
            out.writeInteger(tag.element, endianness: endianness)
            if transferSyntax.isExplicitVR {
                out.writeString(vr.rawValue)
                if vr.hasLongLength {
                    out.writeInteger(UInt16(0))
                    out.writeInteger(UInt32(bytes.count), endianness: endianness)
                } else {
                    out.writeInteger(UInt16(min(bytes.count, 0xFFFE)), endianness: endianness)
                }
            } else {
                out.writeInteger(UInt32(bytes.count), endianness: endianness)
            }
            out.writeBytes(bytes)
        }
        return out
    }

    private struct Reader {
        var buffer: ByteBuffer
        let explicit: Bool
        let bigEndian: Bool

        var endianness: Endianness { bigEndian ? .big : .little }

        mutating func u16() throws(DIMSEError) -> UInt16 {
            guard let value = buffer.readInteger(endianness: endianness, as: UInt16.self) else {
                throw .badDataSet("the data set ends inside an element header")
            }
            return value
        }

        mutating func u32() throws(DIMSEError) -> UInt32 {
            guard let value = buffer.readInteger(endianness: endianness, as: UInt32.self) else {
                throw .badDataSet("the data set ends inside an element header")
            }
            return value
        }

        /// Tag, VR (explicit syntaxes) and value length of the next element (PS3.5 §7.1).
        mutating func header() throws(DIMSEError) -> (Tag, VR?, UInt32) {
            let tag = Tag(try u16(), try u16())
            // Item and delimitation tags (FFFE,xxxx) have no VR in any syntax (PS3.5 §7.5).
            guard explicit, tag.group != 0xFFFE else { return (tag, nil, try u32()) }
            guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self) else {
                throw .badDataSet("the data set ends inside an element header")
            }
            guard let vr = VR(rawValue: String(decoding: [first, second], as: UTF8.self)) else {
                throw .badDataSet("element \(tag) has an unknown VR")
            }
            if vr.hasLongLength {
                _ = try u16()
                return (tag, vr, try u32())
            }
            return (tag, vr, UInt32(try u16()))
        }

        /// Skips a sequence's items (PS3.5 §7.5): by length when defined, else up to its delimiter.
        mutating func skipSequence(length: UInt32, depth: Int = 0) throws(DIMSEError) {
            guard depth < 16 else { throw .badDataSet("sequences nested deeper than 16") }
            if length != 0xFFFF_FFFF {
                guard buffer.readableBytes >= Int(length) else { throw .badDataSet("a sequence overruns the data set") }
                buffer.moveReaderIndex(forwardBy: Int(length))
                return
            }
            while true {
                let tag = Tag(try u16(), try u16())
                let itemLength = try u32()
                if tag == Tag(0xFFFE, 0xE0DD) { return }
                guard tag == Tag(0xFFFE, 0xE000) else {
                    throw .badDataSet("expected an item in a sequence, found \(tag)")
                }
                if itemLength != 0xFFFF_FFFF {
                    guard buffer.readableBytes >= Int(itemLength) else {
                        throw .badDataSet("an item overruns its sequence")
                    }
                    buffer.moveReaderIndex(forwardBy: Int(itemLength))
                    continue
                }
                // An item of undefined length: elements up to the item delimiter.
                while true {
                    let (inner, vr, innerLength) = try header()
                    if inner == Tag(0xFFFE, 0xE00D) { break }
                    if vr == .sq || innerLength == 0xFFFF_FFFF {
                        try skipSequence(length: innerLength, depth: depth + 1)
                    } else {
                        guard buffer.readableBytes >= Int(innerLength) else {
                            throw .badDataSet("element \(inner) overruns its item")
                        }
                        buffer.moveReaderIndex(forwardBy: Int(innerLength))
                    }
                }
            }
        }
    }
}

/// The keys this node answers at each level (PS3.4 Tables C.6-1, C.6-5, C.6-6, C.6-7) and their VRs.
package enum QueryKeys {
    package static let queryRetrieveLevel = Tag(0x0008, 0x0052)
    package static let retrieveAETitle = Tag(0x0008, 0x0054)
    package static let instanceAvailability = Tag(0x0008, 0x0056)
    package static let modalitiesInStudy = Tag(0x0008, 0x0061)
    package static let numberOfPatientRelatedStudies = Tag(0x0020, 0x1200)
    package static let numberOfPatientRelatedSeries = Tag(0x0020, 0x1202)
    package static let numberOfPatientRelatedInstances = Tag(0x0020, 0x1204)
    package static let numberOfStudyRelatedSeries = Tag(0x0020, 0x1206)
    package static let numberOfStudyRelatedInstances = Tag(0x0020, 0x1208)
    package static let numberOfSeriesRelatedInstances = Tag(0x0020, 0x1209)

    package static func vr(of tag: Tag) -> VR? {
        switch tag {
        case .specificCharacterSet, queryRetrieveLevel, instanceAvailability, modalitiesInStudy, .patientSex,
            .modality, .bodyPartExamined:
            .cs
        case .studyDate, .patientBirthDate: .da
        case .studyTime: .tm
        case .accessionNumber, .studyID: .sh
        case retrieveAETitle: .ae
        case .institutionName, .studyDescription, .seriesDescription, .patientID, .issuerOfPatientID: .lo
        case .referringPhysicianName, .patientName: .pn
        case .studyInstanceUID, .seriesInstanceUID, .sopClassUID, .sopInstanceUID: .ui
        case numberOfPatientRelatedStudies, numberOfPatientRelatedSeries, numberOfPatientRelatedInstances,
            numberOfStudyRelatedSeries, numberOfStudyRelatedInstances, numberOfSeriesRelatedInstances, .seriesNumber,
            .instanceNumber, .numberOfFrames:
            .is
        default: nil
        }
    }
}
