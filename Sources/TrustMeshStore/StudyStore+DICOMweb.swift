import GRDB

extension StudyStore {
    /// Every study held, matched or not, newest first (the DICOMweb routes filter them).
    package func allStudies() throws -> [StudySummary] {
        try catalogue.studies(where: "1 = 1", arguments: [])
    }
}
