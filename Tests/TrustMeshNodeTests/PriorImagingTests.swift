import Foundation
import Testing
import TrustMeshNode
import TrustMeshNodeCore
import TrustMeshWeb

/// The prior-imaging matching rule on its own, with a fixed "today".
struct PriorImagingTests {
    static let today = ISO8601DateFormatter().date(from: "2026-06-15T12:00:00Z")!

    static func study(_ uid: String, date: String?, modalities: [String], bodyParts: [String], holder: String = "RRK")
        -> [String: Any]
    {
        var fields: [String: Any] = [
            "studyInstanceUID": uid, "holder": holder, "modalities": modalities, "bodyParts": bodyParts,
            "seriesCount": 1, "instanceCount": 1, "sizeBytes": 1, "localCopy": false,
        ]
        if let date { fields["studyDate"] = date }
        return fields
    }

    /// Built from JSON: the result types have no public memberwise initialisers.
    static let result: FederatedQueryResult = {
        let studies = [
            study("a", date: "20260601", modalities: ["CT"], bodyParts: ["CHEST"]),
            study("b", date: "20250615", modalities: ["ct", "SR"], bodyParts: [" chest "], holder: "RKB"),
            study("c", date: "20250614", modalities: ["CT"], bodyParts: ["CHEST"]),
            study("d", date: "20260101", modalities: ["MR"], bodyParts: ["CHEST"]),
            study("e", date: "20260101", modalities: ["CT"], bodyParts: ["HEAD"]),
            study("f", date: "20260102", modalities: ["CT"], bodyParts: []),
            study("g", date: nil, modalities: ["CT"], bodyParts: ["CHEST"]),
            study("h", date: "20260301", modalities: ["PT"], bodyParts: ["CHEST"]),
        ]
        let json = try! JSONSerialization.data(withJSONObject: [
            "nhsNumber": "9434765919", "optedOut": false, "studies": studies,
        ])
        return try! JSONDecoder().decode(FederatedQueryResult.self, from: json)
    }()

    @Test func matchesModalityAndBodyPartIgnoringCaseWithinThePeriodMostRecentFirst() {
        let found = PriorImaging.find(in: Self.result, modality: "Ct", bodyPart: "Chest", months: 12, now: Self.today)
        #expect(found.priors.map(\.studyInstanceUID) == ["a", "b"])
        #expect(found.since == "2025-06-15")
        #expect(found.bodyPart == "CHEST")
    }

    @Test func withoutABodyPartAnyBodyPartMatchesButNeverAnUndatedStudy() {
        let found = PriorImaging.find(in: Self.result, modality: "CT", bodyPart: nil, months: 12, now: Self.today)
        #expect(found.priors.map(\.studyInstanceUID) == ["a", "f", "e", "b"])
    }

    @Test func anOptedOutPatientHasNoPriors() {
        var result = Self.result
        result.optedOut = true
        #expect(
            PriorImaging.find(in: result, modality: "CT", bodyPart: nil, months: 120, now: Self.today).priors.isEmpty)
    }
}
