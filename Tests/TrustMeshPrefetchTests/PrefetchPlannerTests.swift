import Foundation
import Testing
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshPrefetch

@Suite struct PrefetchRulesTests {
    static let example = """
        {
          "offPeak": { "from": "20:00", "to": "07:00" },
          "rules": [
            { "name": "Fracture clinic priors",
              "events": ["appointmentBooked", "appointmentRescheduled", "appointmentModified", "clinicListed"],
              "places": ["Fracture clinic"], "modalities": ["CR", "DX", "ct"], "bodyParts": ["KNEE", "ANKLE"],
              "lookBackMonths": 24, "maxStudies": 3, "when": "offPeak", "suppressHours": 24 },
            { "name": "Admissions", "events": ["admitted"], "lookBackMonths": 12, "maxStudies": 5, "when": "now" },
            { "name": "MDT", "events": ["mdtListed"], "lookBackMonths": 36, "maxStudies": 10,
              "when": { "hoursBefore": 12 } }
          ]
        }
        """

    @Test func theDocumentedExampleReads() throws {
        let rules = try PrefetchRules(json: Data(Self.example.utf8))
        #expect(rules.rules.map(\.name) == ["Fracture clinic priors", "Admissions", "MDT"])
        #expect(rules.offPeak.from.minutes == 20 * 60 && rules.offPeak.to.minutes == 7 * 60)
        #expect(rules.rules[0].modalities == ["CR", "DX", "CT"])
        #expect(rules.rules[0].when == .offPeak && rules.rules[1].when == .now)
        #expect(rules.rules[2].when == .before(.seconds(12 * 3600)))
        #expect(rules.rules[1].suppress == .seconds(24 * 3600))
    }

    @Test(arguments: [
        (#"[]"#, "(file): not a JSON object"),
        (#"{"rules": []}"#, "rules: must be a list of at least one rule"),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "maxStudies": 1}]}"#,
            "rules[0].lookBackMonths: is required"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["admited"], "lookBackMonths": 1, "maxStudies": 1}]}"#,
            "rules[0].events: 'admited' is not one of"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["appointmentCancelled"], "lookBackMonths": 1, "maxStudies": 1}]}"#,
            "rules[0].events: 'appointmentCancelled' cancels"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "lookBackMonths": true, "maxStudies": 1}]}"#,
            "rules[0].lookBackMonths: must be a whole number from 1 to 600"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "lookBackMonths": 2.5, "maxStudies": 1}]}"#,
            "rules[0].lookBackMonths: must be a whole number"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "lookBackMonths": 1, "maxStudies": 0}]}"#,
            "rules[0].maxStudies: must be a whole number from 1 to 100"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "lookBackMonths": 1, "maxStudies": 1, "when": "later"}]}"#,
            "rules[0].when: must be"
        ),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "lookBackMonths": 1, "maxStudies": 1, "lookback": 3}]}"#,
            "rules[0].lookback: is not a setting here"
        ),
        (#"{"offPeak": {"from": "25:00", "to": "07:00"}, "rules": []}"#, "offPeak.from: must be a time HH:MM"),
        (
            #"{"rules": [{"name": "A", "events": ["admitted"], "lookBackMonths": 1, "maxStudies": 1}, {"name": "a", "events": ["registered"], "lookBackMonths": 1, "maxStudies": 1}]}"#,
            "rules[1].name: 'a' names two rules"
        ),
    ])
    func aBadFileIsRefusedNamingWhereAndWhy(json: String, expected: String) {
        #expect {
            _ = try PrefetchRules(json: Data(json.utf8))
        } throws: { error in
            "\(error)".hasPrefix(expected)
        }
    }
}

@Suite struct PrefetchPlannerTests {
    static let rules = try! PrefetchRules(json: Data(PrefetchRulesTests.example.utf8))
    static let nhs = try! NHSNumber("9434765919")
    static let london = PrefetchPlanner.london

    /// A local (London) time on 2026-12-DAY.
    static func local(_ day: Int, _ hour: Int, _ minute: Int = 0, month: Int = 12) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = london
        return calendar.date(from: DateComponents(year: 2026, month: month, day: day, hour: hour, minute: minute))!
    }

    static func study(
        _ uid: String, _ date: String, _ modality: String = "CR", _ part: String = "KNEE", at holder: String = "RQ3",
        held: Bool = false
    ) -> FederatedQueryResult.Study {
        .init(
            studyInstanceUID: uid, holder: holder, studyDate: date, modalities: [modality], bodyParts: [part],
            localCopy: held)
    }

    static func event(
        _ kind: FeedEvent.Kind = .appointmentBooked, at: Date?, place: String? = "Fracture clinic",
        reference: String = "APT-1"
    ) -> FeedEvent {
        FeedEvent(
            kind: kind, nhsNumber: nhs, reference: reference, at: at, place: place, clinician: "Dr A Khan",
            source: "HL7 v2 PAS^RRK from 127.0.0.1", messageID: "M1")
    }

    static func answer(_ studies: [FederatedQueryResult.Study], optedOut: Bool = false) -> FederatedQueryResult {
        FederatedQueryResult(nhsNumber: nhs.digits, optedOut: optedOut, studies: studies)
    }

    /// The federated answer lists a study once per trust that announces it (a copy an earlier
    /// transfer made): it is one prior, fetched once from one holder, or none if any copy is here.
    @Test func aStudyAnnouncedByTwoOrThreeTrustsIsOnePriorFetchedOnce() throws {
        let now = Self.local(4, 14)
        let clinic = Self.local(5, 9, 30)
        let studies = [
            Self.study("1.a", "20260101", at: "RXK"), Self.study("1.a", "20260101", at: "RL4"),
            Self.study("1.a", "20260101", at: "RQ3"),
            Self.study("1.b", "20251201", at: "RKB"), Self.study("1.b", "20251201", at: "RRK", held: true),
            Self.study("1.c", "20251101", at: "RL4"), Self.study("1.d", "20251001", at: "RQ3"),
        ]
        for order in [studies, studies.reversed()] {
            let decision = PrefetchPlanner.decide(
                Self.event(at: clinic), rules: Self.rules, federated: Self.answer(order), planned: [], now: now)
            guard case .plan(_, let tasks, let held, _) = decision else {
                Issue.record("\(decision)")
                return
            }
            // maxStudies 3: 1.a, 1.b and 1.c, each counted once; 1.b is held here.
            #expect(tasks.map(\.studyUID) == ["1.a", "1.c"])
            #expect(tasks.map(\.holder) == ["RL4", "RL4"], "the first holder in code order")
            #expect(held == ["1.b"])
        }
    }

    @Test func aClinicBookingBringsTheNewestMatchingPriorsInTheOffPeakWindowBeforeIt() throws {
        let now = Self.local(4, 14)  // Friday 14:00
        let clinic = Self.local(5, 9, 30)  // tomorrow 09:30
        let studies = [
            Self.study("1.old", "20200101"),  // older than 24 months
            Self.study("1.a", "20260101"), Self.study("1.b", "20251201", "CT"), Self.study("1.c", "20250601", "DX"),
            Self.study("1.d", "20250501"),  // a fourth match: beyond maxStudies 3
            Self.study("1.mr", "20261101", "MR"),  // modality not in the rule
            Self.study("1.chest", "20261102", "CR", "CHEST"),  // body part not in the rule
            Self.study("1.nodate", "", "CR"),
        ]
        let decision = PrefetchPlanner.decide(
            Self.event(at: clinic), rules: Self.rules, federated: Self.answer(studies), planned: [], now: now)
        guard case .plan(let rule, let tasks, let held, let suppressed) = decision else {
            Issue.record("\(decision)")
            return
        }
        #expect(rule == "Fracture clinic priors")
        #expect(tasks.map(\.studyUID) == ["1.a", "1.b", "1.c"])
        #expect(held.isEmpty && suppressed.isEmpty)
        // Tonight's window, 20:00 to 07:00, both before the 09:30 clinic.
        #expect(tasks.allSatisfy { $0.notBefore == Self.local(4, 20) && $0.notAfter == Self.local(5, 7) })
        #expect(tasks[0].holder == "RQ3" && tasks[0].clinician == "Dr A Khan" && tasks[0].appointment == clinic)
    }

    @Test func heldStudiesCountAndThePlannedOnesAreNotPlannedTwice() throws {
        let now = Self.local(4, 14)
        let studies = [Self.study("2.a", "20260101", held: true), Self.study("2.b", "20251101")]
        let first = PrefetchPlanner.decide(
            Self.event(at: Self.local(5, 9)), rules: Self.rules, federated: Self.answer(studies), planned: [], now: now)
        guard case .plan(_, let tasks, let held, _) = first else {
            Issue.record("\(first)")
            return
        }
        #expect(held == ["2.a"] && tasks.map(\.studyUID) == ["2.b"])
        // The same booking again an hour later (or another clinic the same week): suppressed.
        let again = PrefetchPlanner.decide(
            Self.event(at: Self.local(5, 9), reference: "APT-2"), rules: Self.rules, federated: Self.answer(studies),
            planned: tasks, now: now.addingTimeInterval(3600))
        #expect(again == .plan(rule: "Fracture clinic priors", tasks: [], held: ["2.a"], suppressed: ["2.b"]))
        // After the suppression interval (24 h) it is planned again.
        let later = PrefetchPlanner.decide(
            Self.event(at: Self.local(8, 9), reference: "APT-3"), rules: Self.rules, federated: Self.answer(studies),
            planned: tasks, now: now.addingTimeInterval(25 * 3600))
        guard case .plan(_, let laterTasks, _, _) = later else {
            Issue.record("\(later)")
            return
        }
        #expect(laterTasks.map(\.studyUID) == ["2.b"])
    }

    @Test func cancellationsPastAppointmentsOptOutsAndUnmatchedEvents() {
        let now = Self.local(4, 14)
        let studies = [Self.study("3.a", "20260101")]
        #expect(
            PrefetchPlanner.decide(
                Self.event(.appointmentCancelled, at: Self.local(5, 9)), rules: Self.rules,
                federated: Self.answer(studies), planned: [], now: now) == .cancel(reference: "APT-1"))
        #expect(
            PrefetchPlanner.decide(
                Self.event(at: Self.local(4, 9)), rules: Self.rules, federated: Self.answer(studies), planned: [],
                now: now) == .past(reference: "APT-1"))
        #expect(
            PrefetchPlanner.decide(
                Self.event(at: Self.local(5, 9)), rules: Self.rules, federated: Self.answer(studies, optedOut: true),
                planned: [], now: now) == .optedOut)
        #expect(
            PrefetchPlanner.decide(
                Self.event(at: Self.local(5, 9), place: "Cardiology clinic"), rules: Self.rules,
                federated: Self.answer(studies), planned: [], now: now) == .noRule)
        #expect(
            PrefetchPlanner.decide(
                Self.event(.imagingOrdered, at: nil), rules: Self.rules, federated: Self.answer(studies), planned: [],
                now: now) == .noRule)
        // An admission is planned at once, whatever the time it names.
        let admitted = PrefetchPlanner.decide(
            Self.event(.admitted, at: Self.local(4, 11), place: "Ward 7"), rules: Self.rules,
            federated: Self.answer(studies), planned: [], now: now)
        guard case .plan(_, let tasks, _, _) = admitted else {
            Issue.record("\(admitted)")
            return
        }
        #expect(tasks.map(\.notBefore) == [now])
    }

    @Test func windows() {
        let offPeak = Self.rules.offPeak
        let window = { (when: PrefetchRules.When, appointment: Date?, now: Date) in
            PrefetchPlanner.window(when, appointment: appointment, now: now, offPeak: offPeak)
        }
        // Inside tonight's window already: from now until it closes.
        #expect(window(.offPeak, Self.local(7, 9), Self.local(4, 23)) == (Self.local(4, 23), Self.local(5, 7)))
        // After midnight, still inside the window that opened yesterday.
        #expect(window(.offPeak, Self.local(7, 9), Self.local(5, 3)) == (Self.local(5, 3), Self.local(5, 7)))
        // The clinic is before tonight's window opens: at once.
        #expect(window(.offPeak, Self.local(4, 17), Self.local(4, 14)) == (Self.local(4, 14), Self.local(4, 17)))
        // The clinic falls inside the window: until the clinic.
        #expect(window(.offPeak, Self.local(4, 22), Self.local(4, 14)) == (Self.local(4, 20), Self.local(4, 22)))
        // H hours before; at once when that has passed.
        #expect(
            window(.before(.seconds(12 * 3600)), Self.local(7, 9), Self.local(4, 14)) == (
                Self.local(6, 21), Self.local(7, 9)
            ))
        #expect(
            window(.before(.seconds(12 * 3600)), Self.local(4, 20), Self.local(4, 14)) == (
                Self.local(4, 14), Self.local(4, 20)
            ))
        #expect(window(.now, nil, Self.local(4, 14)) == (Self.local(4, 14), nil))
        // Across the clocks going back (25 October 2026): 20:00 to 07:00 local is 12 hours of UTC.
        let (start, end) = window(.offPeak, nil, Self.local(24, 21, month: 10))
        #expect(end!.timeIntervalSince(start) == 10 * 3600 + 3600)
        #expect(start == Self.local(24, 21, month: 10) && end == Self.local(25, 7, month: 10))
    }
}
