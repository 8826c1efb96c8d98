public import Foundation
import TrustMeshModel
public import TrustMeshNodeCore

/// The prior-imaging alert: before a scan is ordered, the comparable studies the patient already has
/// anywhere in the network, so the clinician can fetch instead of re-imaging.
///
/// ## Matching rule
/// A study is comparable when, in this node's copy of the federated index:
/// 1. it is the same patient (NHS number) and the patient has not opted out (an opted-out patient
///    gets a notice and no studies, as in a search);
/// 2. one of its modalities equals the ordered modality, ignoring case and surrounding spaces
///    (`ct` matches `CT`; `CT` does not match `PT`);
/// 3. when a body part is given, one of its body parts (DICOM Body Part Examined) equals it, ignoring
///    case and surrounding spaces; a study that records no body part does not match a body part (it
///    cannot be shown to be comparable). With no body part given, any body part matches;
/// 4. its study date is on or after the day `months` calendar months before today (UTC) — a study
///    with no date does not match.
///
/// Results are the most recent first, then by holding trust.
public struct PriorImaging: Codable, Sendable, Equatable {
    /// The patient's NHS number, ten digits.
    /// - Warning: identifies a patient.
    public var nhsNumber: String
    public var modality: String
    public var bodyPart: String?
    public var months: Int
    /// The earliest study date that counts, `YYYY-MM-DD`.
    public var since: String
    public var optedOut: Bool
    /// Comparable studies, most recent first.
    public var priors: [FederatedQueryResult.Study]
    /// The matching rule, in words.
    public var rule: String

    /// Filters a patient's studies by the matching rule.
    /// - Parameters:
    ///   - result: The patient's federated query result.
    ///   - modality: The modality of the scan about to be ordered (required).
    ///   - bodyPart: Its body part, or nil for any.
    ///   - months: The period, 1 to 120.
    ///   - now: Today.
    public static func find(
        in result: FederatedQueryResult, modality: String, bodyPart: String?, months: Int, now: Date = Date()
    ) -> PriorImaging {
        let wantedModality = normalise(modality)
        let wantedPart = bodyPart.map(normalise).flatMap { $0.isEmpty ? nil : $0 }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = calendar.date(byAdding: .month, value: -months, to: now) ?? now
        let parts = calendar.dateComponents([.year, .month, .day], from: start)
        let since = String(format: "%04d%02d%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        let priors = result.studies.filter { study in
            guard let date = study.studyDate, date.count == 8, date >= since else { return false }
            guard study.modalities.contains(where: { normalise($0) == wantedModality }) else { return false }
            if let wantedPart { return study.bodyParts.contains { normalise($0) == wantedPart } }
            return true
        }
        .sorted { ($0.studyDate ?? "", $1.holder) > ($1.studyDate ?? "", $0.holder) }
        let partText = wantedPart.map { "body part \($0)" } ?? "any body part"
        return PriorImaging(
            nhsNumber: result.nhsNumber, modality: wantedModality, bodyPart: wantedPart, months: months,
            since: "\(since.prefix(4))-\(since.dropFirst(4).prefix(2))-\(since.suffix(2))",
            optedOut: result.optedOut, priors: result.optedOut ? [] : priors,
            rule: "same patient, modality \(wantedModality) and \(partText) (case ignored), "
                + "study dated in the last \(months) month\(months == 1 ? "" : "s"), anywhere in the network")
    }

    static func normalise(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
    }

    /// Reads and checks the alert's parameters (`nhs`, `modality`, `bodyPart`, `months`).
    /// - Returns: the parameters, or a message for the person who gave them.
    static func parameters(_ fields: [String: String]) -> Result<(NHSNumber, String, String?, Int), InputProblem> {
        guard let text = fields["nhs"], !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            return .failure(InputProblem("nhs", "Enter the patient's NHS number."))
        }
        let nhs: NHSNumber
        do { nhs = try NHSNumber(text) } catch {
            return .failure(InputProblem("nhs", "“\(text.prefix(20))” is not a valid NHS number: \(error)."))
        }
        let modality = normalise(fields["modality"] ?? "")
        guard (1...16).contains(modality.count), modality.allSatisfy({ $0.isLetter || $0.isNumber }) else {
            return .failure(InputProblem("modality", "Give the modality of the scan to be ordered, e.g. CT or MR."))
        }
        let bodyPart = fields["bodyPart"].map(normalise).flatMap { $0.isEmpty ? nil : $0 }
        if let bodyPart, bodyPart.count > 64 {
            return .failure(InputProblem("bodyPart", "The body part is at most 64 characters, e.g. CHEST."))
        }
        let monthsText = fields["months"].flatMap { $0.isEmpty ? nil : $0 } ?? "12"
        guard let months = Int(monthsText), (1...120).contains(months) else {
            return .failure(InputProblem("months", "The period is a whole number of months from 1 to 120."))
        }
        return .success((nhs, modality, bodyPart, months))
    }
}

/// A form or query field that was not valid, with a message for the person who filled it in.
struct InputProblem: Error, Sendable {
    var field: String
    var message: String
    init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}
