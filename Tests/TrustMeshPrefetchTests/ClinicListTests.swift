import Foundation
import Testing
import TrustMeshModel
import TrustMeshPrefetch

/// Reading a clinic or MDT list uploaded as CSV.
@Suite struct ClinicListTests {
    static let london = TimeZone(identifier: "Europe/London")!

    @Test func aListWithAHeaderQuotesAndBothDateFormsIsReadInLondonTime() throws {
        let csv = """
            NHS number,Date and time,Clinic,Clinician
            943 476 5919, 2026-12-07 09:30, Respiratory clinic, "Khan, A"
            "9434765870",07/06/2026 14:05,"Respiratory ""B"" clinic",

            9434765919,2026-12-07T10:00:30,Respiratory clinic,Dr B Jones
            """
        let events = try ClinicList.events(
            csv, kind: .clinic, source: "clinic list uploaded by Dr X", timeZone: Self.london)
        #expect(events.map(\.nhsNumber.digits) == ["9434765919", "9434765870", "9434765919"])
        #expect(events.allSatisfy { $0.kind == .clinicListed && $0.source == "clinic list uploaded by Dr X" })
        #expect(events.map(\.place) == ["Respiratory clinic", "Respiratory \"B\" clinic", "Respiratory clinic"])
        #expect(events.map(\.clinician) == ["Khan, A", nil, "Dr B Jones"])
        let utc = ISO8601DateFormatter()
        // December is GMT; 7 June is BST (UTC+1).
        #expect(
            events.map { $0.at.map(utc.string) } == [
                "2026-12-07T09:30:00Z", "2026-06-07T13:05:00Z", "2026-12-07T10:00:30Z",
            ])
        // Each row has its own reference, so a second upload of the same list updates its lines.
        #expect(Set(events.compactMap(\.reference)).count == 3)
        let mdt = try ClinicList.events(
            "9434765919,2026-12-07 09:30,Lung MDT,", kind: .mdt, source: "s", timeZone: Self.london)
        #expect(mdt.first?.kind == .mdtListed)
    }

    @Test(arguments: [
        ("9434765919,2026-12-07 09:30,Clinic", "line 1, row: 3 columns"),
        ("9434765918,2026-12-07 09:30,Clinic,Dr", "line 1, NHS number"),
        ("9434765919,2026-13-07 09:30,Clinic,Dr", "line 1, date and time"),
        ("9434765919,31/02/2026 09:30,Clinic,Dr", "line 1, date and time"),
        ("9434765919,2026-12-07,Clinic,Dr", "line 1, date and time"),
        ("9434765919,2026-12-07 09:30, ,Dr", "line 1, clinic or meeting"),
        ("9434765919,2026-12-07 09:30,\"Clinic,Dr", "line 1, row: a quoted field is not closed"),
        (
            "NHS,When,Where,Who\n9434765919,2026-12-07 09:30,Clinic,Dr\n94347659,2026-12-07 09:30,Clinic,Dr",
            "line 3, NHS number"
        ),
    ])
    func aBadRowRefusesTheListNamingItsLineAndColumn(csv: String, expected: String) {
        #expect {
            _ = try ClinicList.events(csv, kind: .clinic, source: "s", timeZone: Self.london)
        } throws: { error in
            "\(error)".hasPrefix(expected)
        }
    }

    @Test func aListLongerThanTheLimitIsRefused() {
        let row = "9434765919,2026-12-07 09:30,Clinic,Dr"
        let csv = Array(repeating: row, count: ClinicList.maximumRows + 1).joined(separator: "\n")
        #expect(throws: ClinicList.Problem.self) {
            _ = try ClinicList.events(csv, kind: .clinic, source: "s", timeZone: Self.london)
        }
        #expect(
            (try? ClinicList.events(
                Array(repeating: row, count: ClinicList.maximumRows).joined(separator: "\n"), kind: .clinic,
                source: "s", timeZone: Self.london))?.count == ClinicList.maximumRows)
    }
}
