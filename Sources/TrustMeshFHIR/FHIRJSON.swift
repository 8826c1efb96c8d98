/// A JSON value as the FHIR feed door reads it: from ``FHIRJSON/parse(_:)``, a strict parser that
/// keeps what `JSONSerialization` loses or lets pass (a number's text, `true` apart from `1`) and
/// refuses what it accepts (a key given twice, invalid UTF-8, a lone surrogate escape, nesting
/// deeper than 64, text after the value).
///
/// ```swift
/// let value = try FHIRJSON.parse(Array(#"{"resourceType":"Appointment","status":"booked"}"#.utf8))
/// value["status"]?.string  // "booked"
/// ```
package indirect enum FHIRJSON: Sendable, Equatable {
    case object([String: FHIRJSON])
    case array([FHIRJSON])
    case string(String)
    /// A number, as its JSON text (FHIR decimals keep their precision).
    case number(String)
    case bool(Bool)
    case null

    /// The member `key` of an object; nil for a missing member or a value that is not an object.
    package subscript(key: String) -> FHIRJSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The text of a string value.
    package var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// How a message names the value's JSON type.
    package var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "true or false"
        case .null: "null"
        }
    }

    /// The value written back as JSON, keys sorted, no spaces: the same value always gives the same
    /// bytes (the feed door's digest of a resource that names no version).
    package var canonical: String {
        switch self {
        case .object(let members):
            "{" + members.keys.sorted().map { Self.quoted($0) + ":" + members[$0]!.canonical }.joined(separator: ",")
                + "}"
        case .array(let items): "[" + items.map(\.canonical).joined(separator: ",") + "]"
        case .string(let text): Self.quoted(text)
        case .number(let text): text
        case .bool(let value): value ? "true" : "false"
        case .null: "null"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u" + String(format0x(scalar.value))
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func format0x(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Reads one JSON value (RFC 8259), strictly.
    /// - Throws: ``FHIRJSONError`` naming the byte offset and what is wrong there.
    package static func parse(_ bytes: [UInt8]) throws(FHIRJSONError) -> FHIRJSON {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.error("text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var depth = 0
        static let maximumDepth = 64

        func error(_ message: String) -> FHIRJSONError { FHIRJSONError(offset: index, message: message) }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func value() throws(FHIRJSONError) -> FHIRJSON {
            guard index < bytes.count else { throw error("the JSON ends where a value was expected") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("a value cannot start with '\(Self.shown(bytes[index]))'")
            }
        }

        static func shown(_ byte: UInt8) -> String {
            (0x21..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "byte 0x" + String(byte, radix: 16)
        }

        mutating func literal(_ word: String, _ value: FHIRJSON) throws(FHIRJSONError) -> FHIRJSON {
            let text = Array(word.utf8)
            guard bytes.count - index >= text.count, Array(bytes[index..<index + text.count]) == text else {
                throw error("expected \(word)")
            }
            index += text.count
            return value
        }

        mutating func enter() throws(FHIRJSONError) {
            depth += 1
            guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(FHIRJSONError) {
            guard index < bytes.count, bytes[index] == byte else { throw error("expected \(what)") }
            index += 1
        }

        mutating func object() throws(FHIRJSONError) -> FHIRJSON {
            try enter()
            index += 1
            var members: [String: FHIRJSON] = [:]
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("expected a member name in quotes")
                }
                let start = index
                let key = try string()
                guard members[key] == nil else {
                    throw FHIRJSONError(offset: start, message: "the member '\(key.prefix(64))' is given twice")
                }
                skipSpace()
                try expect(UInt8(ascii: ":"), "':' after a member name")
                skipSpace()
                members[key] = try value()
                skipSpace()
                guard index < bytes.count else { throw error("the JSON ends inside an object") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "',' or '}' in an object")
                depth -= 1
                return .object(members)
            }
        }

        mutating func array() throws(FHIRJSONError) -> FHIRJSON {
            try enter()
            index += 1
            var items: [FHIRJSON] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value())
                skipSpace()
                guard index < bytes.count else { throw error("the JSON ends inside an array") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"), "',' or ']' in an array")
                depth -= 1
                return .array(items)
            }
        }

        mutating func hex4() throws(FHIRJSONError) -> UInt32 {
            guard bytes.count - index >= 4 else { throw error("a \\u escape needs four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("a \\u escape needs four hex digits")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        mutating func string() throws(FHIRJSONError) -> String {
            let start = index
            index += 1
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else {
                    throw FHIRJSONError(offset: start, message: "a string is not closed")
                }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    break
                }
                guard byte >= 0x20 else { throw error("a control character inside a string must be escaped") }
                guard byte == UInt8(ascii: "\\") else {
                    out.append(byte)
                    index += 1
                    continue
                }
                index += 1
                guard index < bytes.count else { throw error("a string ends inside an escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw error("a \\u escape of a high surrogate is not followed by its low surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else {
                            throw error("a \\u escape of a high surrogate is not followed by its low surrogate")
                        }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("a \\u escape of a low surrogate without its high surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(UnicodeScalar(scalar)!)).utf8))
                default: throw error("'\\\(Self.shown(escape))' is not a JSON escape")
                }
            }
            guard let text = String(validating: out, as: UTF8.self) else {
                throw FHIRJSONError(offset: start, message: "a string is not valid UTF-8")
            }
            return text
        }

        mutating func number() throws(FHIRJSONError) -> FHIRJSON {
            let start = index
            func digits() -> Int {
                let from = index
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    index += 1
                }
                return index - from
            }
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw error("a number has no digits") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    throw error("a number cannot have a leading zero")
                }
            } else if digits() == 0 {
                throw error("a number has no digits")
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw error("a number's fraction has no digits") }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard digits() > 0 else { throw error("a number's exponent has no digits") }
            }
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        }
    }
}

/// JSON that ``FHIRJSON/parse(_:)`` refused: where, and why.
package struct FHIRJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset of the fault in the body.
    package var offset: Int
    /// What is wrong there.
    package var message: String
    package var description: String { "not valid JSON at byte \(offset): \(message)" }
}
