/// An HL7 v2 message, read strictly: the encoding characters from MSH-1 and MSH-2, segments split
/// on carriage return, fields on the field separator, and, on demand, repetitions, components and
/// sub-components, with escape sequences decoded.
///
/// Reading fails (``HL7Error``, acknowledged AR) when the first segment is not MSH, the encoding
/// characters are not four or five distinct non-alphanumeric characters, a segment ID is not three
/// upper-case letters or digits, or MSH-9 (message type and trigger) or MSH-10 (control ID) is
/// missing. Values are decoded only when asked for, so a malformed value in a segment the node does
/// not use does not refuse the message.
///
/// ```swift
/// let message = try HL7Message(parsing: Array("MSH|^~\\&|PAS|RRK|TM|RRK|202612051200||SIU^S12|42|P|2.5\rPID|||...".utf8))
/// message.messageType                       // "SIU"
/// message["PID"]?.repetitions(3).first?[1]  // the first PID-3's CX-1
/// ```
public struct HL7Message: Sendable {
    /// The separators the message declares in MSH-1 and MSH-2.
    public struct Delimiters: Sendable, Hashable {
        /// MSH-1, usually `|`.
        public var field: Character
        /// Usually `^`.
        public var component: Character
        /// Usually `~`.
        public var repetition: Character
        /// Usually `\`.
        public var escape: Character
        /// Usually `&`.
        public var subcomponent: Character

        /// The delimiters HL7 recommends (`|^~\&`), which acknowledgements use.
        public static let standard = Delimiters(
            field: "|", component: "^", repetition: "~", escape: "\\", subcomponent: "&")

        /// Delimiters by character.
        public init(
            field: Character, component: Character, repetition: Character, escape: Character, subcomponent: Character
        ) {
            self.field = field
            self.component = component
            self.repetition = repetition
            self.escape = escape
            self.subcomponent = subcomponent
        }
    }

    /// The message's delimiters.
    public let delimiters: Delimiters
    /// The segments, in order.
    public let segments: [HL7Segment]

    /// Reads a message's bytes (the content of one MLLP frame). UTF-8 is expected; bytes that are
    /// not UTF-8 are read as ISO 8859-1, the character set UK interfaces used before UTF-8.
    /// - Throws: ``HL7Error`` (AR) naming what cannot be read.
    public init(parsing bytes: some Collection<UInt8>) throws(HL7Error) {
        let text = String(validating: bytes, as: UTF8.self) ?? String(bytes.map { Character(Unicode.Scalar($0)) })
        try self.init(parsing: text)
    }

    /// Reads a message's text.
    /// - Throws: ``HL7Error`` (AR) naming what cannot be read.
    public init(parsing text: String) throws(HL7Error) {
        try self.init(parsing: text, requireHeaderFields: true)
    }

    /// Reads a message; with `requireHeaderFields` false, one whose MSH-9 or MSH-10 is missing too
    /// (so that its reject can still name its sender).
    init(parsing text: String, requireHeaderFields: Bool) throws(HL7Error) {
        var lines = text.split(separator: "\r", omittingEmptySubsequences: false).map { line -> Substring in
            // A CR LF sender: the LF starts the next segment.
            line.first == "\n" ? line.dropFirst() : line
        }
        while let last = lines.last, last.allSatisfy({ $0 == "\n" || $0 == " " }) { lines.removeLast() }
        guard let first = lines.first, first.hasPrefix("MSH") else {
            throw .unreadable("MSH", "the message does not start with an MSH segment")
        }
        let header = Array(first)
        guard header.count >= 8 else { throw .unreadable("MSH-2", "the encoding characters are missing") }
        let field = header[3]
        var encoding: [Character] = []
        for character in header[4...] {
            if character == field { break }
            encoding.append(character)
        }
        let all = [field] + encoding
        guard encoding.count == 4 || encoding.count == 5,
            Set(all).count == all.count,
            all.allSatisfy({ !$0.isLetter && !$0.isNumber && !$0.isWhitespace && $0.isASCII })
        else {
            throw .unreadable(
                "MSH-2", "encoding characters \(String(encoding)) are not four distinct separators after MSH-1 \(field)"
            )
        }
        let delimiters = Delimiters(
            field: field, component: encoding[0], repetition: encoding[1], escape: encoding[2],
            subcomponent: encoding[3])
        self.delimiters = delimiters
        var segments: [HL7Segment] = []
        for (index, line) in lines.enumerated() {
            let parts = line.split(separator: field, omittingEmptySubsequences: false)
            let id = parts[0]
            guard id.count == 3, id.allSatisfy({ ($0.isASCII && $0.isUppercase) || $0.isASCII && $0.isNumber }) else {
                let shown = id.prefix(8)
                throw .unreadable(
                    "segment \(index + 1)", "\"\(shown)\" is not a segment ID (three upper-case letters or digits)")
            }
            if index > 0, id == "MSH" { throw .unreadable("segment \(index + 1)", "a second MSH segment") }
            var fields = parts.dropFirst().map(String.init)
            if index == 0 {
                // MSH-1 is the field separator itself, MSH-2 the encoding characters: never decoded.
                fields.insert(String(field), at: 0)
            }
            segments.append(HL7Segment(id: String(id), fields: fields, delimiters: delimiters))
        }
        self.segments = segments
        guard requireHeaderFields else { return }
        guard messageType != nil else { throw .unreadable("MSH-9", code: "101", "message type missing") }
        guard triggerEvent != nil else { throw .unreadable("MSH-9", code: "101", "trigger event missing") }
        guard controlID != nil else { throw .unreadable("MSH-10", code: "101", "message control ID missing") }
    }

    /// The header.
    public var header: HL7Segment { segments[0] }

    /// The first segment with this ID.
    public subscript(id: String) -> HL7Segment? { segments.first { $0.id == id } }

    /// Every segment with this ID, in order.
    public func all(_ id: String) -> [HL7Segment] { segments.filter { $0.id == id } }

    /// MSH-9.1: `SIU`, `ADT`, `ORM`, `OMI`…
    public var messageType: String? { header.value(9)?.uppercased() }
    /// MSH-9.2: `S12`, `A01`…
    public var triggerEvent: String? { header.value(9, component: 2)?.uppercased() }
    /// MSH-10, the sender's identifier of this message.
    public var controlID: String? { header.value(10) }
    /// MSH-3.1 and MSH-4.1: the sending application and facility, as `PAS^RRK`.
    public var sender: String { (header.value(3) ?? "") + "^" + (header.value(4) ?? "") }
}

/// One segment of an ``HL7Message``: its ID and its fields, numbered as HL7 numbers them (`PID-3`
/// is `field(3)`; for MSH, field 1 is the field separator).
public struct HL7Segment: Sendable {
    /// `MSH`, `PID`, `SCH`…
    public let id: String
    /// Raw fields, index 0 is field 1.
    let fields: [String]
    let delimiters: HL7Message.Delimiters

    /// The raw (undecoded) text of field `number`, empty when absent.
    public func raw(_ number: Int) -> String {
        number >= 1 && number <= fields.count ? fields[number - 1] : ""
    }

    /// The repetitions of field `number` (one when it does not repeat, none when empty).
    public func repetitions(_ number: Int) -> [HL7Value] {
        let text = raw(number)
        if text.isEmpty { return [] }
        if id == "MSH" && number <= 2 { return [HL7Value(raw: text, delimiters: delimiters, literal: true)] }
        return text.split(separator: delimiters.repetition, omittingEmptySubsequences: false).map {
            HL7Value(raw: String($0), delimiters: delimiters, literal: false)
        }
    }

    /// A decoded value of the first repetition of field `number`: its component and sub-component
    /// (1-based); nil when empty.
    public func value(_ number: Int, component: Int = 1, subcomponent: Int = 1) -> String? {
        repetitions(number).first?.value(component, subcomponent)
    }
}

/// One repetition of a field: components and sub-components, decoded on demand.
public struct HL7Value: Sendable {
    /// The repetition's raw text.
    public let raw: String
    let delimiters: HL7Message.Delimiters
    let literal: Bool

    /// Component `component` (1-based), sub-component `subcomponent`, escapes decoded; nil when
    /// empty (HL7's `""`, an explicit null, is returned as nil too).
    public func value(_ component: Int = 1, _ subcomponent: Int = 1) -> String? {
        if literal { return component == 1 && subcomponent == 1 ? raw : nil }
        let components = raw.split(separator: delimiters.component, omittingEmptySubsequences: false)
        guard component >= 1, component <= components.count else { return nil }
        let subs = components[component - 1].split(separator: delimiters.subcomponent, omittingEmptySubsequences: false)
        guard subcomponent >= 1, subcomponent <= subs.count else { return nil }
        let text = subs[subcomponent - 1]
        if text.isEmpty || text == "\"\"" { return nil }
        let decoded = HL7Escape.decode(text, delimiters)
        return decoded.isEmpty ? nil : decoded
    }

    /// Component `component`'s first sub-component.
    public subscript(component: Int) -> String? { value(component) }
}

/// HL7 v2 escape sequences (v2.5 §2.7).
public enum HL7Escape {
    /// Decodes `\F\ \S\ \T\ \R\ \E\` to the delimiters they stand for, `\.br\` to a line break and
    /// `\Xhh…\` to the bytes it spells (as UTF-8, else ISO 8859-1); formatting sequences (`\H\`,
    /// `\N\`) are dropped. An unterminated or unknown sequence is kept as it stands.
    public static func decode(_ text: Substring, _ delimiters: HL7Message.Delimiters) -> String {
        let escape = delimiters.escape
        guard text.contains(escape) else { return String(text) }
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            guard character == escape,
                let close = text[text.index(after: index)...].firstIndex(of: escape)
            else {
                out.append(character)
                index = text.index(after: index)
                continue
            }
            let body = text[text.index(after: index)..<close]
            var replaced = true
            switch body {
            case "F": out.append(delimiters.field)
            case "S": out.append(delimiters.component)
            case "T": out.append(delimiters.subcomponent)
            case "R": out.append(delimiters.repetition)
            case "E": out.append(delimiters.escape)
            case ".br": out.append("\n")
            case "H", "N": break
            default:
                if body.first == "X", let bytes = hex(body.dropFirst()) {
                    out +=
                        String(validating: bytes, as: UTF8.self)
                        ?? String(bytes.map { Character(Unicode.Scalar($0)) })
                } else {
                    replaced = false
                }
            }
            if replaced {
                index = text.index(after: close)
            } else {
                out.append(character)
                index = text.index(after: index)
            }
        }
        return out
    }

    /// Escapes the delimiters in `text` so it can stand as one value.
    public static func encode(_ text: String, _ delimiters: HL7Message.Delimiters = .standard) -> String {
        var out = ""
        for character in text {
            switch character {
            case delimiters.escape: out += "\(delimiters.escape)E\(delimiters.escape)"
            case delimiters.field: out += "\(delimiters.escape)F\(delimiters.escape)"
            case delimiters.component: out += "\(delimiters.escape)S\(delimiters.escape)"
            case delimiters.subcomponent: out += "\(delimiters.escape)T\(delimiters.escape)"
            case delimiters.repetition: out += "\(delimiters.escape)R\(delimiters.escape)"
            case "\r", "\n": out += "\(delimiters.escape).br\(delimiters.escape)"
            default: out.append(character)
            }
        }
        return out
    }

    private static func hex(_ digits: Substring) -> [UInt8]? {
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
