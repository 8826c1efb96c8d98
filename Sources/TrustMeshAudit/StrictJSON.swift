/// A strict reader of one JSON text (RFC 8259), for the lines of an audit export.
///
/// It accepts exactly the grammar of RFC 8259 §2–§7 and nothing more: no comments, no trailing
/// commas, no `NaN` or `Infinity`, no single quotes, no leading zeros, no control characters or
/// invalid escapes in strings, and no lone UTF-16 surrogates in `\u` escapes. On top of the grammar
/// it refuses what RFC 8259 leaves to the implementation (§4: "The names within an object SHOULD be
/// unique"): a name that appears twice in one object, compared after unescaping, at any depth. Two
/// parsers that both follow these rules cannot read the same bytes differently, which is what an
/// audit export needs (`docs/AUDIT-FORMAT.md` §2).
///
/// Whitespace between tokens is RFC 8259's `ws` without line breaks: space and tab only (a line of
/// an export never holds LF, and CR is refused). Nesting is limited to ``maxDepth`` and the input
/// must already be valid UTF-8 (the caller checks it, so that a bad byte is reported as such).
///
/// Numbers are kept as their text: the caller decides which forms a field accepts.
struct StrictJSON {
    /// A JSON value. Objects keep their members in the order read.
    indirect enum Value: Equatable {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        /// The number's text, exactly as written (already checked against RFC 8259's grammar).
        case number(String)
        case bool(Bool)
        case null

        static func == (lhs: Value, rhs: Value) -> Bool {
            switch (lhs, rhs) {
            case (.object(let a), .object(let b)):
                a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            case (.array(let a), .array(let b)): a == b
            case (.string(let a), .string(let b)): a == b
            case (.number(let a), .number(let b)): a == b
            case (.bool(let a), .bool(let b)): a == b
            case (.null, .null): true
            default: false
            }
        }

        /// What kind of value it is, for messages: `an object`, `a string`…
        var kind: String {
            switch self {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            }
        }
    }

    /// Why a text is not strict JSON, and the byte (from 1) where the reader stopped.
    struct Failure: Error, Equatable {
        var reason: String
        var column: Int
    }

    /// The deepest nesting of objects and arrays accepted. An export line nests two deep (an entry
    /// and its subject); a proof four.
    static let maxDepth = 8

    private let bytes: [UInt8]
    private let lineBreaks: Bool
    private var index = 0
    private var depth = 0

    private init(_ bytes: [UInt8], lineBreaks: Bool) {
        self.bytes = bytes
        self.lineBreaks = lineBreaks
    }

    /// Reads one JSON text that fills `bytes` entirely (whitespace around it allowed).
    /// - Parameters:
    ///   - bytes: Valid UTF-8, without CR (and without LF unless `lineBreaks`).
    ///   - lineBreaks: Whether LF counts as whitespace between tokens (a pretty-printed proof file).
    /// - Returns: The value.
    /// - Throws: ``Failure`` naming the first thing that is not strict JSON.
    static func parse(_ bytes: some Collection<UInt8>, lineBreaks: Bool = false) throws(Failure) -> Value {
        var reader = StrictJSON(Array(bytes), lineBreaks: lineBreaks)
        reader.skipWhitespace()
        let value = try reader.value()
        reader.skipWhitespace()
        guard reader.index == reader.bytes.count else {
            throw reader.failure("unexpected \(reader.describe(reader.bytes[reader.index])) after the JSON value")
        }
        return value
    }

    private func failure(_ reason: String) -> Failure { Failure(reason: reason, column: index + 1) }

    private func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0x21...0x7E: "'\(Character(Unicode.Scalar(byte)))'"
        default: "byte 0x" + String(byte, radix: 16, uppercase: false)
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x09 || (lineBreaks && bytes[index] == 0x0A)
        {
            index += 1
        }
    }

    private mutating func value() throws(Failure) -> Value {
        guard index < bytes.count else { throw failure("the line ends where a value should be") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            throw failure("\(describe(bytes[index])) cannot start a JSON value")
        }
    }

    private mutating func literal(_ word: String) throws(Failure) {
        let expected = Array(word.utf8)
        guard bytes.count - index >= expected.count, bytes[index..<index + expected.count].elementsEqual(expected)
        else { throw failure("not a JSON value (expected \(word))") }
        index += expected.count
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func object() throws(Failure) -> Value {
        try enter()
        index += 1
        var members: [(key: String, value: Value)] = []
        // Compared by their UTF-8 bytes: Swift's String equality would also merge canonically
        // equivalent spellings (U+00E9 and e U+0301), which other readers keep apart.
        var keys: Set<[UInt8]> = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw failure(
                    index < bytes.count ? "an object's member must start with a quoted name" : "unterminated object")
            }
            let keyStart = index
            let key = try string()
            guard keys.insert(Array(key.utf8)).inserted else {
                index = keyStart
                throw failure("duplicate key \(Self.quoted(key))")
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw failure("expected ':' after an object's member name")
            }
            index += 1
            skipWhitespace()
            members.append((key, try value()))
            skipWhitespace()
            guard index < bytes.count else { throw failure("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                skipWhitespace()
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw failure("expected ',' or '}' in an object") }
            index += 1
            depth -= 1
            return .object(members)
        }
    }

    private mutating func array() throws(Failure) -> Value {
        try enter()
        index += 1
        var elements: [Value] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try value())
            skipWhitespace()
            guard index < bytes.count else { throw failure("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                skipWhitespace()
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw failure("expected ',' or ']' in an array") }
            index += 1
            depth -= 1
            return .array(elements)
        }
    }

    /// `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?` (RFC 8259 §6), returned as written.
    private mutating func number() throws(Failure) -> String {
        let start = index
        func digits(_ reader: inout StrictJSON) -> Int {
            let from = reader.index
            while reader.index < reader.bytes.count, (0x30...0x39).contains(reader.bytes[reader.index]) {
                reader.index += 1
            }
            return reader.index - from
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, (0x30...0x39).contains(bytes[index]) else {
            throw failure("a number needs a digit here")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                throw failure("a number has a leading zero")
            }
        } else {
            _ = digits(&self)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw failure("a number's fraction needs a digit") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits(&self) > 0 else { throw failure("a number's exponent needs a digit") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - index >= 4 else { throw failure("a \\u escape needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func string() throws(Failure) -> String {
        index += 1
        var out: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                out += bytes[runStart..<index]
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if byte < 0x20 {
                throw failure("a control character (byte 0x\(String(byte, radix: 16))) must be escaped in a string")
            }
            guard byte == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            out += bytes[runStart..<index]
            index += 1
            guard index < bytes.count else { throw failure("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    else { throw failure("a lone high surrogate in a \\u escape") }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw failure("a high surrogate not followed by a low surrogate in a \\u escape")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure("a lone low surrogate in a \\u escape")
                }
                out += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                index -= 1
                throw failure("invalid escape: a backslash followed by \(describe(escape))")
            }
            runStart = index
        }
    }

    /// A name for a message: quoted when it is a plain ASCII word (a letter, then letters and
    /// digits, at most 64), otherwise described by its length, so that no value (an NHS number
    /// used as a key) reaches a message.
    static func quoted(_ key: String) -> String {
        let plain =
            (1...64).contains(key.utf8.count)
            && key.utf8.first.map { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) } == true
            && key.utf8.allSatisfy {
                (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            }
        return plain ? "\"\(key)\"" : "(a name of \(key.unicodeScalars.count) characters)"
    }
}
