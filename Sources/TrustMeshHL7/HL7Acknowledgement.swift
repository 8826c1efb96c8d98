public import Foundation

/// An HL7 v2 acknowledgement (original mode): MSH with sender and receiver swapped, MSA with the
/// code and the acknowledged message's control ID, and for an error an ERR segment whose text
/// names the fault (also in MSA-3, which v2.3 senders show).
///
/// ```swift
/// let ack = HL7Acknowledgement(code: "AE", to: message, error: .invalid("PID-3", "no NHS number"))
/// ack.text  // "MSH|^~\\&|TM|RRK|PAS|RRK|20261205120000||ACK^S12^ACK|...\rMSA|AE|42|PID-3: no NHS number\rERR|..."
/// ```
public struct HL7Acknowledgement: Sendable, Hashable {
    /// `AA`, `AE` or `AR`.
    public let code: String
    /// The segments, joined by carriage returns, without MLLP framing.
    public let text: String

    /// An acknowledgement.
    /// - Parameters:
    ///   - code: `AA`, `AE` or `AR`.
    ///   - message: The message acknowledged, if it could be read as far as its header.
    ///   - error: The fault, for AE and AR.
    ///   - now: The acknowledgement's time (MSH-7).
    ///   - controlID: This acknowledgement's own MSH-10.
    public init(
        code: String, to message: HL7Message?, error: HL7Error? = nil, now: Date = Date(),
        controlID: String = String(UUID().uuidString.prefix(20))
    ) {
        self.code = code
        let header = message?.header
        func field(_ number: Int, _ component: Int = 1) -> String {
            HL7Escape.encode(header?.value(number, component: component) ?? "")
        }
        func hd(_ number: Int) -> String {
            // A hierarchic designator (MSH-3..6), echoed with its components.
            (1...3).map { field(number, $0) }.joined(separator: "^").replacing(/\^+$/, with: "")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "yyyyMMddHHmmss"
        let time = formatter.string(from: now) + "+0000"
        let trigger = header?.value(9, component: 2).map { "ACK^" + HL7Escape.encode($0) + "^ACK" } ?? "ACK"
        var segments = [
            [
                "MSH", "^~\\&", hd(5), hd(6), hd(3), hd(4), time, "", trigger, HL7Escape.encode(controlID),
                header?.value(11).map { HL7Escape.encode($0) } ?? "P", header.flatMap { $0.value(12) } ?? "2.5",
            ].joined(separator: "|")
        ]
        let textMessage = error.map { HL7Escape.encode($0.description) }
        segments.append(
            ["MSA", code, HL7Escape.encode(message?.controlID ?? "")].joined(separator: "|")
                + (textMessage.map { "|" + $0 } ?? ""))
        if let error, let textMessage {
            let (segment, field) = Self.position(error.location)
            let location = segment.map { "\($0)^1^\(field ?? "")" } ?? ""
            let codeText = error.code + "^" + Self.meaning(error.code) + "^HL70357"
            segments.append(
                ["ERR", location, location, codeText, "E", "", "", "", textMessage].joined(separator: "|"))
        }
        text = segments.joined(separator: "\r")
    }

    /// The acknowledgement's bytes in an MLLP frame.
    public var framed: [UInt8] { MLLP.frame(Array(text.utf8)) }

    /// `PID-3` → (`PID`, `3`); `SCH-11/AIS-4` → its first; anything else → nil.
    private static func position(_ location: String) -> (String?, String?) {
        let first = location.split(separator: "/").first.map(String.init) ?? location
        let parts = first.split(separator: "-")
        guard let id = parts.first, id.count == 3, id.allSatisfy({ $0.isUppercase || $0.isNumber }) else {
            return (nil, nil)
        }
        return (String(id), parts.count > 1 ? String(parts[1]) : nil)
    }

    /// HL7 table 0357's text for a code.
    private static func meaning(_ code: String) -> String {
        switch code {
        case "100": "Segment sequence error"
        case "101": "Required field missing"
        case "102": "Data type error"
        case "200": "Unsupported message type"
        case "204": "Unknown key identifier"
        default: "Application internal error"
        }
    }
}

/// MLLP, the Minimal Lower Layer Protocol (HL7 v2 transport): each message between a start block
/// 0x0B and an end block 0x1C 0x0D.
public enum MLLP {
    /// The start block.
    public static let start: UInt8 = 0x0B
    /// The end block's first byte (then a carriage return).
    public static let end: UInt8 = 0x1C

    /// `message` framed.
    public static func frame(_ message: [UInt8]) -> [UInt8] { [start] + message + [end, 0x0D] }
}
