public import Foundation

/// HL7 v2 date/times (DTM, and TS's first component): `YYYYMMDD[HH[MM[SS[.S…]]]][+/-ZZZZ]`, read
/// exactly: every field in range, the day in its month. Without an offset a time is the trust's
/// local time, Europe/London (GMT or BST by the date).
public enum HL7DateTime {
    /// The time zone of a time without an offset.
    public static let london = TimeZone(identifier: "Europe/London")!

    /// The instant `text` names, or nil when it is not a date/time of that form (a date alone is
    /// midnight local time).
    public static func parse(_ text: String, timeZone: TimeZone = london) -> Date? {
        var body = Substring(text)
        var offset: Int?
        if let sign = body.firstIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = body[body.index(after: sign)...]
            guard zone.count == 4, zone.allSatisfy({ $0.isASCII && $0.isNumber }),
                let hours = Int(zone.prefix(2)), let minutes = Int(zone.suffix(2)), hours <= 14, minutes < 60
            else { return nil }
            offset = (hours * 3600 + minutes * 60) * (body[sign] == "-" ? -1 : 1)
            body = body[..<sign]
        }
        var fraction = 0.0
        if let dot = body.firstIndex(of: ".") {
            let digits = body[body.index(after: dot)...]
            guard body.distance(from: body.startIndex, to: dot) == 14, (1...4).contains(digits.count),
                digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Double("0." + digits)
            else { return nil }
            fraction = value
            body = body[..<dot]
        }
        guard [8, 10, 12, 14].contains(body.count), body.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let digits = Array(body)
        func number(_ from: Int, _ count: Int) -> Int? {
            from + count <= digits.count ? Int(String(digits[from..<from + count])) : nil
        }
        var parts = DateComponents()
        parts.year = number(0, 4)
        parts.month = number(4, 2)
        parts.day = number(6, 2)
        parts.hour = number(8, 2) ?? 0
        parts.minute = number(10, 2) ?? 0
        parts.second = number(12, 2) ?? 0
        guard let year = parts.year, let month = parts.month, let day = parts.day, year >= 1,
            (1...12).contains(month), (1...31).contains(day), (0...23).contains(parts.hour!),
            (0...59).contains(parts.minute!), (0...59).contains(parts.second!)
        else { return nil }
        // The day must exist in its month (no 30 February): checked where no clock change can move it.
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = TimeZone(secondsFromGMT: 0)!
        guard let probe = gregorian.date(from: DateComponents(year: year, month: month, day: day)),
            gregorian.component(.day, from: probe) == day
        else { return nil }
        gregorian.timeZone = offset.flatMap { TimeZone(secondsFromGMT: $0) } ?? timeZone
        return gregorian.date(from: parts).map { $0.addingTimeInterval(fraction) }
    }
}
