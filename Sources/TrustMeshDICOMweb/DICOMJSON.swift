import Foundation
import TrustMeshModel

/// One data set in the DICOM JSON Model (PS3.18 Annex F.2): an object keyed by the tag as eight
/// upper-case hex digits, each attribute an object with its `vr` and, unless empty, a `Value` array.
///
/// ```swift
/// var study = DICOMJSONObject()
/// study.set(0x0020_000D, .ui, ["1.2.3"])
/// study.set(0x0010_0010, .pn, ["DOE^JANE"])   // {"vr":"PN","Value":[{"Alphabetic":"DOE^JANE"}]}
/// study.set(0x0020_1208, .is, ["12"])           // IS, DS, US, UL values are JSON numbers (F.2.3)
/// ```
package struct DICOMJSONObject: Sendable, Equatable {
    /// The value representations the node writes.
    package enum VR: String, Sendable {
        case ae = "AE", `as` = "AS", at = "AT", cs = "CS", da = "DA", ds = "DS", dt = "DT", fd = "FD", fl = "FL"
        case `is` = "IS", lo = "LO", lt = "LT", ob = "OB", od = "OD", of = "OF", ol = "OL", ov = "OV", ow = "OW"
        case pn = "PN", sh = "SH", sl = "SL", sq = "SQ", ss = "SS", st = "ST", sv = "SV", tm = "TM", uc = "UC"
        case ui = "UI", ul = "UL", un = "UN", ur = "UR", us = "US", ut = "UT", uv = "UV"
    }

    /// One value of an attribute.
    package enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case decimal(Double)
        /// A person name, written as `{"Alphabetic": ..., "Ideographic": ..., "Phonetic": ...}` from its
        /// `=`-separated component groups (F.2.2).
        case personName(String)
        case item(DICOMJSONObject)

        /// Appends the value's JSON. A decimal that is not finite has no JSON form and is left out
        /// by the attribute (`JSONEncoder` refused the whole answer for one).
        func write(to out: inout [UInt8]) {
            switch self {
            case .string(let text): DICOMJSONObject.writeString(text, to: &out)
            case .integer(let number): out.append(contentsOf: String(number).utf8)
            case .decimal(let number): out.append(contentsOf: number.description.utf8)
            case .personName(let name):
                // Non-empty component groups, keys in sorted order (F.2.2).
                out.append(UInt8(ascii: "{"))
                var first = true
                for (key, group) in zip(
                    ["Alphabetic", "Ideographic", "Phonetic"],
                    name.split(separator: "=", omittingEmptySubsequences: false))
                where !group.isEmpty {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    DICOMJSONObject.writeString(key, to: &out)
                    out.append(UInt8(ascii: ":"))
                    DICOMJSONObject.writeString(String(group), to: &out)
                }
                out.append(UInt8(ascii: "}"))
            case .item(let object): object.write(to: &out)
            }
        }

        var isWritable: Bool {
            if case .decimal(let number) = self { return number.isFinite }
            return true
        }
    }

    /// One attribute: its VR and values (none: present but empty, F.2.5), or binary as base64 (F.2.7).
    package struct Attribute: Sendable, Equatable {
        package var vr: VR
        package var values: [Value]
        package var inlineBinary: String? = nil

        /// Appends `{"InlineBinary":…,"vr":…}` or `{"Value":[…],"vr":…}` (keys in sorted order, as
        /// every DICOMweb answer of this node has always had them).
        func write(to out: inout [UInt8]) {
            out.append(UInt8(ascii: "{"))
            if let inlineBinary {
                out.append(contentsOf: #""InlineBinary":"#.utf8)
                DICOMJSONObject.writeString(inlineBinary, to: &out)
                out.append(UInt8(ascii: ","))
            } else if values.contains(where: \.isWritable) {
                out.append(contentsOf: #""Value":["#.utf8)
                var first = true
                for value in values where value.isWritable {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    value.write(to: &out)
                }
                out.append(contentsOf: "],".utf8)
            }
            out.append(contentsOf: #""vr":""#.utf8)
            out.append(contentsOf: vr.rawValue.utf8)
            out.append(contentsOf: #""}"#.utf8)
        }
    }

    /// The attributes by tag (`group << 16 | element`).
    package private(set) var attributes: [UInt32: Attribute] = [:]

    package init() {}

    /// Sets an attribute from its DICOM string values. Numbers (IS, DS, US, UL) that do not parse are
    /// dropped rather than sent as strings, which F.2.3 does not allow; empty strings are dropped.
    package mutating func set(_ tag: UInt32, _ vr: VR, _ texts: [String]) {
        let values: [Value] = texts.compactMap { text in
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { return nil }
            switch vr {
            case .is, .us, .ul:
                return Int(trimmed.hasPrefix("+") ? String(trimmed.dropFirst()) : trimmed).map(Value.integer)
            case .ds: return Double(trimmed).map(Value.decimal)
            case .pn: return .personName(trimmed)
            default: return .string(trimmed)
            }
        }
        attributes[tag] = Attribute(vr: vr, values: values)
    }

    /// Sets an attribute when the value is present (and not empty); otherwise leaves it out.
    package mutating func set(_ tag: UInt32, _ vr: VR, _ text: String?) {
        guard let text, !text.isEmpty else { return }
        set(tag, vr, [text])
    }

    /// Sets a numeric attribute.
    package mutating func set(_ tag: UInt32, _ vr: VR, integer: Int) {
        attributes[tag] = Attribute(vr: vr, values: [.integer(integer)])
    }

    /// Sets an attribute from values already typed.
    package mutating func set(_ tag: UInt32, _ vr: VR, values: [Value]) {
        attributes[tag] = Attribute(vr: vr, values: values)
    }

    /// Sets a binary attribute (OB, OW, UN...) as InlineBinary, base64 (F.2.7).
    package mutating func set(_ tag: UInt32, _ vr: VR, inlineBinary bytes: [UInt8]) {
        attributes[tag] = Attribute(vr: vr, values: [], inlineBinary: Data(bytes).base64EncodedString())
    }

    /// Sets a sequence attribute from its items.
    package mutating func set(_ tag: UInt32, items: [DICOMJSONObject]) {
        attributes[tag] = Attribute(vr: .sq, values: items.map(Value.item))
    }

    /// Removes an attribute.
    package mutating func remove(_ tag: UInt32) { attributes[tag] = nil }

    /// The first string value of an attribute (strings, person names and numbers as text).
    package func string(_ tag: UInt32) -> String? {
        switch attributes[tag]?.values.first {
        case .string(let text), .personName(let text): text
        case .integer(let number): String(number)
        case .decimal(let number): String(number)
        default: nil
        }
    }

    /// Eight upper-case hex digits, as F.2.1.1 writes a tag.
    package static func key(_ tag: UInt32) -> String {
        let hex = String(tag, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }

    /// Appends the object: attributes in tag order, each keyed by ``key(_:)``.
    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for tag in attributes.keys.sorted() {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            for shift in stride(from: 28, through: 0, by: -4) {
                out.append(Self.hexDigits[Int((tag >> UInt32(shift)) & 0xF)])
            }
            out.append(contentsOf: "\":".utf8)
            attributes[tag]!.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Appends `text` as a JSON string: `/` and all of Unicode as their UTF-8 (``JSONText``).
    static func writeString(_ text: String, to out: inout [UInt8]) {
        JSONText.append(string: text, to: &out, escapingSlashes: false)
    }

    /// The JSON bytes of an array of objects, as QIDO-RS and metadata answer (keys in tag order).
    ///
    /// Written directly, not through `JSONEncoder`: a QIDO-RS answer of 50 studies took 3 ms there
    /// (its generic containers cost about 5 µs an attribute), most of the search's time.
    package static func encode(_ objects: [DICOMJSONObject]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + objects.count * 768)
        out.append(UInt8(ascii: "["))
        for (index, object) in objects.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            object.write(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// The JSON bytes of one object (the STOW-RS response).
    package static func encode(_ object: DICOMJSONObject) -> [UInt8] {
        var out: [UInt8] = []
        object.write(to: &out)
        return out
    }
}
