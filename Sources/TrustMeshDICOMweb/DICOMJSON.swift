import Foundation

/// One data set in the DICOM JSON Model (PS3.18 Annex F.2): an object keyed by the tag as eight
/// upper-case hex digits, each attribute an object with its `vr` and, unless empty, a `Value` array.
///
/// ```swift
/// var study = DICOMJSONObject()
/// study.set(0x0020_000D, .ui, ["1.2.3"])
/// study.set(0x0010_0010, .pn, ["DOE^JANE"])   // {"vr":"PN","Value":[{"Alphabetic":"DOE^JANE"}]}
/// study.set(0x0020_1208, .is, ["12"])           // IS, DS, US, UL values are JSON numbers (F.2.3)
/// ```
package struct DICOMJSONObject: Sendable, Equatable, Encodable {
    /// The value representations the node writes.
    package enum VR: String, Sendable {
        case ae = "AE", `as` = "AS", at = "AT", cs = "CS", da = "DA", ds = "DS", dt = "DT", fd = "FD", fl = "FL"
        case `is` = "IS", lo = "LO", lt = "LT", ob = "OB", od = "OD", of = "OF", ol = "OL", ov = "OV", ow = "OW"
        case pn = "PN", sh = "SH", sl = "SL", sq = "SQ", ss = "SS", st = "ST", sv = "SV", tm = "TM", uc = "UC"
        case ui = "UI", ul = "UL", un = "UN", ur = "UR", us = "US", ut = "UT", uv = "UV"
    }

    /// One value of an attribute.
    package enum Value: Sendable, Equatable, Encodable {
        case string(String)
        case integer(Int)
        case decimal(Double)
        /// A person name, written as `{"Alphabetic": ..., "Ideographic": ..., "Phonetic": ...}` from its
        /// `=`-separated component groups (F.2.2).
        case personName(String)
        case item(DICOMJSONObject)

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let text): try container.encode(text)
            case .integer(let number): try container.encode(number)
            case .decimal(let number): try container.encode(number)
            case .personName(let name):
                var groups: [String: String] = [:]
                for (key, group) in zip(
                    ["Alphabetic", "Ideographic", "Phonetic"],
                    name.split(separator: "=", omittingEmptySubsequences: false))
                where !group.isEmpty {
                    groups[key] = String(group)
                }
                try container.encode(groups)
            case .item(let object): try container.encode(object)
            }
        }
    }

    /// One attribute: its VR and values (none: present but empty, F.2.5), or binary as base64 (F.2.7).
    package struct Attribute: Sendable, Equatable, Encodable {
        package var vr: VR
        package var values: [Value]
        package var inlineBinary: String? = nil

        private enum CodingKeys: String, CodingKey {
            case vr, value = "Value", inlineBinary = "InlineBinary"
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(vr.rawValue, forKey: .vr)
            if let inlineBinary {
                try container.encode(inlineBinary, forKey: .inlineBinary)
            } else if !values.isEmpty {
                try container.encode(values, forKey: .value)
            }
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

    private struct TagKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TagKey.self)
        for tag in attributes.keys.sorted() {
            try container.encode(attributes[tag]!, forKey: TagKey(stringValue: Self.key(tag)))
        }
    }

    /// The JSON bytes of an array of objects, as QIDO-RS and metadata answer (keys in tag order).
    package static func encode(_ objects: [DICOMJSONObject]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(objects)) ?? Data("[]".utf8))
    }

    /// The JSON bytes of one object (the STOW-RS response).
    package static func encode(_ object: DICOMJSONObject) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(object)) ?? Data("{}".utf8))
    }
}
