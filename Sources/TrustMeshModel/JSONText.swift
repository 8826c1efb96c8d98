/// JSON text written by hand, for the answers a node gives most often (a federated query, a QIDO-RS
/// search), where `JSONEncoder` costs several microseconds a field: a 40-study answer spent more
/// time being encoded than being read from the index.
///
/// Only the pieces those writers need: strings, numbers, booleans and the punctuation between them.
/// Each writer is tested byte for byte against the encoder it replaces.
///
/// ```swift
/// var out: [UInt8] = []
/// JSONText.append(string: "CT head/neck", to: &out, escapingSlashes: true)   // "CT head\/neck"
/// ```
///
/// ``Object`` writes a whole object field by field.
package enum JSONText {
    /// Appends `text` as a JSON string (RFC 8259 §7): `"` and `\` escaped, control characters as
    /// `\n`-style or `\u00xx` escapes, `/` as `\/` when `escapingSlashes` (as `JSONEncoder` writes
    /// it), everything else, all of Unicode included, as its UTF-8.
    package static func append(string text: String, to out: inout [UInt8], escapingSlashes: Bool) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "/") where escapingSlashes: out.append(contentsOf: #"\/"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `"key":` (a key the caller knows needs no escape).
    fileprivate static func append(key: StaticString, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: "\":".utf8)
    }

    /// Appends an integer in decimal.
    fileprivate static func append(integer: Int, to out: inout [UInt8]) {
        out.append(contentsOf: String(integer).utf8)
    }

    /// Appends `true` or `false`.
    fileprivate static func append(bool: Bool, to out: inout [UInt8]) {
        out.append(contentsOf: (bool ? "true" : "false").utf8)
    }

    /// Appends an array of strings.
    fileprivate static func append(strings: [String], to out: inout [UInt8], escapingSlashes: Bool) {
        out.append(UInt8(ascii: "["))
        for (index, text) in strings.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            append(string: text, to: &out, escapingSlashes: escapingSlashes)
        }
        out.append(UInt8(ascii: "]"))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// One JSON object, its fields written in the order given (the caller gives them sorted),
    /// strings as `JSONEncoder` writes them (`/` as `\/`), a nil field left out.
    ///
    /// ```swift
    /// var object = JSONText.Object()
    /// object.field("holder", "RRK")
    /// object.field("localCopy", true)
    /// object.closed()   // {"holder":"RRK","localCopy":true}
    /// ```
    package struct Object: Sendable {
        private var bytes: [UInt8]
        private var empty = true

        /// An empty object; `capacity` is a hint of its size in bytes.
        package init(capacity: Int = 256) {
            bytes = []
            bytes.reserveCapacity(capacity)
            bytes.append(UInt8(ascii: "{"))
        }

        private mutating func key(_ key: StaticString) {
            if !empty { bytes.append(UInt8(ascii: ",")) }
            empty = false
            JSONText.append(key: key, to: &bytes)
        }

        /// A string field; nil leaves it out.
        package mutating func field(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            key(name)
            JSONText.append(string: value, to: &bytes, escapingSlashes: true)
        }

        /// A number field.
        package mutating func field(_ name: StaticString, _ value: Int) {
            key(name)
            JSONText.append(integer: value, to: &bytes)
        }

        /// A boolean field.
        package mutating func field(_ name: StaticString, _ value: Bool) {
            key(name)
            JSONText.append(bool: value, to: &bytes)
        }

        /// An array of strings.
        package mutating func field(_ name: StaticString, _ values: [String]) {
            key(name)
            JSONText.append(strings: values, to: &bytes, escapingSlashes: true)
        }

        /// An array of objects.
        package mutating func field(_ name: StaticString, objects: [Object]) {
            key(name)
            bytes.append(UInt8(ascii: "["))
            for (index, object) in objects.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: object.bytes)
                bytes.append(UInt8(ascii: "}"))
            }
            bytes.append(UInt8(ascii: "]"))
        }

        /// The object's bytes, closed.
        package func closed() -> [UInt8] { bytes + [UInt8(ascii: "}")] }
    }
}
