import Foundation
package import TrustMeshDICOM

extension DICOMJSONObject {
    /// A data set's elements as DICOM JSON (PS3.18 F.2): strings decoded with the file's character set
    /// (so the JSON is Unicode whatever the file used), IS/DS and binary numbers as JSON numbers, AT as
    /// hex tags, OB/OW/UN and the other binary VRs as InlineBinary (F.2.7), sequences as nested objects.
    /// Values the dump left out (Pixel Data, long values) and group lengths are not written.
    package init(_ elements: [DataSetDump.Element], dump: DataSetDump) {
        self.init()
        for element in elements where element.tag.element != 0 && element.omittedLength == nil {
            let tag = element.tag.rawValue
            guard let vr = VR(rawValue: element.vr.rawValue) else { continue }
            let bytes = element.bytes ?? []
            switch element.vr {
            case .sq:
                set(tag, items: element.items.map { DICOMJSONObject($0, dump: dump) })
            case .ae, .as, .cs, .da, .ds, .dt, .is, .lo, .lt, .pn, .sh, .st, .tm, .uc, .ui, .ur, .ut:
                set(tag, vr, dump.strings(element))
            case .us, .ss, .ul, .sl, .fl, .fd, .sv, .uv:
                set(tag, vr, values: Self.numbers(bytes, vr: element.vr, bigEndian: dump.bigEndian))
            case .at:
                let words = Self.integers(bytes, size: 2, bigEndian: dump.bigEndian)
                let tags = stride(from: 0, to: words.count - 1, by: 2).map {
                    DICOMJSONObject.key(UInt32(words[$0]) << 16 | UInt32(words[$0 + 1]))
                }
                set(tag, vr, values: tags.map(Value.string))
            default:
                if bytes.isEmpty { set(tag, vr, values: []) } else { set(tag, vr, inlineBinary: bytes) }
            }
        }
    }

    /// Unsigned integers of `size` bytes in the data set's byte order.
    private static func integers(_ bytes: [UInt8], size: Int, bigEndian: Bool) -> [UInt64] {
        stride(from: 0, to: bytes.count - size + 1, by: size).map { start in
            var value: UInt64 = 0
            for index in 0..<size {
                let byte = UInt64(bytes[start + (bigEndian ? index : size - 1 - index)])
                value = value << 8 | byte
            }
            return value
        }
    }

    private static func numbers(_ bytes: [UInt8], vr: TrustMeshDICOM.VR, bigEndian: Bool) -> [Value] {
        switch vr {
        case .us: return integers(bytes, size: 2, bigEndian: bigEndian).map { .integer(Int($0)) }
        case .ss:
            return integers(bytes, size: 2, bigEndian: bigEndian).map { .integer(Int(Int16(truncatingIfNeeded: $0))) }
        case .ul: return integers(bytes, size: 4, bigEndian: bigEndian).map { .integer(Int($0)) }
        case .sl:
            return integers(bytes, size: 4, bigEndian: bigEndian).map { .integer(Int(Int32(truncatingIfNeeded: $0))) }
        case .sv: return integers(bytes, size: 8, bigEndian: bigEndian).map { .integer(Int(Int64(bitPattern: $0))) }
        case .uv:
            return integers(bytes, size: 8, bigEndian: bigEndian).compactMap {
                $0 <= UInt64(Int.max) ? .integer(Int($0)) : nil
            }
        case .fl:
            return integers(bytes, size: 4, bigEndian: bigEndian).compactMap {
                let value = Double(Float(bitPattern: UInt32($0)))
                return value.isFinite ? .decimal(value) : nil
            }
        case .fd:
            return integers(bytes, size: 8, bigEndian: bigEndian).compactMap {
                let value = Double(bitPattern: $0)
                return value.isFinite ? .decimal(value) : nil
            }
        default: return []
        }
    }
}
