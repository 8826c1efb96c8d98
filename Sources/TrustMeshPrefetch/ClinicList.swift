public import Foundation
public import TrustMeshModel

/// A clinic or MDT list a clinician uploads as CSV: one patient a row, `NHS number, date and
/// time, clinic or meeting, clinician`, read into the feed events the pre-fetch engine plans from.
///
/// A first row whose NHS number column holds letters is a header and is skipped. Fields may be
/// quoted (`"Smith, J"`, `""` for a quote). The date and time is the trust's local time, written
/// `YYYY-MM-DD HH:MM` (or with a `T`) or `DD/MM/YYYY HH:MM`. Every row is read before any is
/// used: one bad row refuses the list, naming its line and column.
public enum ClinicList {
    /// What a list is of.
    public enum Kind: String, Sendable, CaseIterable {
        case clinic
        case mdt

        var event: FeedEvent.Kind { self == .clinic ? .clinicListed : .mdtListed }
    }

    /// A row that cannot be read, by line (1-based) and column.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var column: String
        public var message: String
        public var description: String { "line \(line), \(column): \(message)" }
    }

    /// The most rows one list may hold.
    public static let maximumRows = 1_000

    /// Reads a list.
    /// - Parameters:
    ///   - text: the CSV.
    ///   - kind: a clinic's list or an MDT meeting's.
    ///   - source: who uploaded it, as the events' source (the audit log's actor for what follows).
    ///   - timeZone: the trust's time, in which the list is written.
    /// - Throws: ``Problem`` for the first row that cannot be read.
    public static func events(
        _ text: String, kind: Kind, source: String, timeZone: TimeZone = PrefetchPlanner.london
    ) throws(Problem) -> [FeedEvent] {
        var events: [FeedEvent] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        let first = (lines.firstIndex { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? 0) + 1
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            if raw.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = try Self.fields(of: String(raw), line: number)
            if number == first, fields.first?.contains(where: \.isLetter) == true {
                continue  // the header
            }
            guard fields.count == 4 else {
                throw Problem(
                    line: number, column: "row",
                    message: "\(fields.count) columns; a row is NHS number, date and time, clinic or meeting, clinician"
                )
            }
            let nhs: NHSNumber
            do { nhs = try NHSNumber(fields[0]) } catch {
                throw Problem(line: number, column: "NHS number", message: "“\(fields[0].prefix(20))”: \(error)")
            }
            guard let at = date(fields[1], timeZone: timeZone) else {
                throw Problem(
                    line: number, column: "date and time",
                    message: "“\(fields[1].prefix(30))” is not a date and time (YYYY-MM-DD HH:MM or DD/MM/YYYY HH:MM)")
            }
            let place = fields[2].trimmingCharacters(in: .whitespaces)
            guard !place.isEmpty else {
                throw Problem(line: number, column: "clinic or meeting", message: "empty: name the clinic or meeting")
            }
            let clinician = fields[3].trimmingCharacters(in: .whitespaces)
            guard events.count < maximumRows else {
                throw Problem(line: number, column: "row", message: "more than \(maximumRows) rows in one list")
            }
            events.append(
                FeedEvent(
                    kind: kind.event, nhsNumber: nhs,
                    reference: "\(kind.rawValue) list: \(place) \(fields[1].trimmingCharacters(in: .whitespaces))",
                    at: at, place: place, clinician: clinician.isEmpty ? nil : clinician, source: source,
                    messageID: ""))
        }
        return events
    }

    /// One row's fields (RFC 4180 quoting), trimmed.
    static func fields(of line: String, line number: Int) throws(Problem) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var characters = line.makeIterator()
        while let character = characters.next() {
            if quoted {
                if character == "\"" {
                    // `""` inside quotes is one quote; a lone quote ends the field's quoting.
                    var lookahead = characters
                    if lookahead.next() == "\"" {
                        field.append("\"")
                        characters = lookahead
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "," {
                fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
                field = ""
                wasQuoted = false
            } else if character == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty {
                quoted = true
                wasQuoted = true
                field = ""
            } else {
                field.append(character)
            }
        }
        guard !quoted else { throw Problem(line: number, column: "row", message: "a quoted field is not closed") }
        fields.append(wasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
        return fields
    }

    /// `YYYY-MM-DD HH:MM`, `YYYY-MM-DDTHH:MM` or `DD/MM/YYYY HH:MM` (seconds allowed), in `timeZone`.
    static func date(_ text: String, timeZone: TimeZone) -> Date? {
        let text = text.trimmingCharacters(in: .whitespaces)
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let day = parts[0]
        var ymd: [Int]
        if day.contains("/") {
            let dmy = day.split(separator: "/").compactMap { Int($0) }
            guard dmy.count == 3 else { return nil }
            ymd = [dmy[2], dmy[1], dmy[0]]
        } else {
            ymd = day.split(separator: "-").compactMap { Int($0) }
        }
        let hms = parts[1].split(separator: ":").compactMap { Int($0) }
        guard ymd.count == 3, ymd[0] >= 2000, ymd[0] < 2200, (2...3).contains(hms.count) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let components = DateComponents(
            year: ymd[0], month: ymd[1], day: ymd[2], hour: hms[0], minute: hms[1], second: hms.count == 3 ? hms[2] : 0)
        guard components.isValidDate(in: calendar), let date = calendar.date(from: components) else { return nil }
        return date
    }
}
