import Foundation
import GRDB

/// What a search of the studies held here may narrow by in SQL (DICOMweb QIDO-RS without PatientID),
/// so the per-study counts are computed only for studies that match.
package struct StudyFilter: Sendable {
    package var studyUIDs: [String] = []
    /// Inclusive bounds, `YYYYMMDD`.
    package var dateFrom: String?
    package var dateTo: String?
    /// A DICOM pattern: `*` any run of characters, `?` any one (PS3.4 §C.2.2.2.4).
    package var accessionNumber: String?

    package init() {}
}

extension StudyStore {
    /// The studies held here that match `filter`, matched or not, newest first.
    package func studies(matching filter: StudyFilter) throws -> [StudySummary] {
        var conditions: [String] = ["1 = 1"]
        var arguments: StatementArguments = []
        if !filter.studyUIDs.isEmpty {
            conditions.append(
                "st.studyUID IN (\(Array(repeating: "?", count: filter.studyUIDs.count).joined(separator: ",")))")
            for uid in filter.studyUIDs { arguments += [uid] }
        }
        if let from = filter.dateFrom {
            conditions.append("st.studyDate >= ?")
            arguments += [from]
        }
        if let to = filter.dateTo {
            conditions.append("st.studyDate <= ?")
            arguments += [to]
        }
        if let pattern = filter.accessionNumber {
            // GLOB has the same * and ? (https://www.sqlite.org/lang_expr.html#glob); [ must be escaped.
            conditions.append("st.accession GLOB ?")
            arguments += [pattern.replacingOccurrences(of: "[", with: "[[]")]
        }
        return try catalogue.studies(where: conditions.joined(separator: " AND "), arguments: arguments)
    }
}
