/// The current federated index, folded from index records: which studies each patient has, where.
///
/// A pure value, so the node, the simulation and the auditor's replay apply the very same rules:
///
/// - For each (origin, study UID), the record with the highest sequence wins; an older record that
///   arrives later changes nothing.
/// - If that record is ``IndexRecord/Kind-swift.struct/withdrawn``, the study is not listed (the
///   tombstone stays, so the older record can't bring the study back).
/// - Opt-outs and their withdrawals are not applied here: they are kept per patient
///   (``optOutRecords(for:)``) for `TrustMeshPolicy`'s `OptOutPolicy`, which decides whether their
///   origin may record one and which is in force; the node hides an opted-out patient's studies.
/// - A record of a kind this version does not know is ignored here (it still counts in its origin's
///   sequence, so gossip carries it on).
///
/// The result does not depend on the order in which records are applied, and applying a record twice
/// changes nothing, so gossip can deliver records in any order. Records must have been verified
/// against their origin's key before they are applied.
///
/// ```swift
/// var view = IndexView(try await log.allRecords())
/// view.apply(newRecord)
/// for study in view.studies(for: nhs) { print(study.origin, study.studyUID ?? "") }
/// ```
public struct IndexView: Sendable {
    private struct StudyKey: Hashable, Sendable {
        var origin: TrustID
        var studyUID: String
    }

    private var latest: [StudyKey: IndexRecord] = [:]
    private var studiesByPatient: [NHSNumber: Set<StudyKey>] = [:]
    private var optOuts: [NHSNumber: [IndexRecord]] = [:]

    /// An empty view.
    public init() {}

    /// The view of `records`, in any order.
    /// - Parameter records: Verified records.
    public init(_ records: some Sequence<IndexRecord>) {
        for record in records {
            apply(record)
        }
    }

    /// Folds one verified record into the view.
    ///
    /// A ``IndexRecord/Kind-swift.struct/study`` or ``IndexRecord/Kind-swift.struct/withdrawn`` record
    /// without a study UID says nothing about any study and is ignored.
    /// - Parameter record: A record verified against its origin's pinned key.
    public mutating func apply(_ record: IndexRecord) {
        if record.kind.isOptOutKind {
            if !(optOuts[record.nhsNumber]?.contains(record) ?? false) {
                optOuts[record.nhsNumber, default: []].append(record)
            }
            return
        }
        guard record.kind == .study || record.kind == .withdrawn, let studyUID = record.studyUID else { return }
        let key = StudyKey(origin: record.origin, studyUID: studyUID)
        if let current = latest[key] {
            guard record.sequence > current.sequence else { return }
            // A correction may move the study to another patient.
            studiesByPatient[current.nhsNumber]?.remove(key)
        }
        latest[key] = record
        studiesByPatient[record.nhsNumber, default: []].insert(key)
    }

    /// The patient's opt-out records and withdrawals, from every origin, ordered by origin and sequence;
    /// `OptOutPolicy` decides which count.
    /// - Parameter nhs: The patient.
    public func optOutRecords(for nhs: NHSNumber) -> [IndexRecord] {
        (optOuts[nhs] ?? []).sorted { ($0.origin, $0.sequence) < ($1.origin, $1.sequence) }
    }

    /// The patient's studies at every origin: for each, the latest record, not withdrawn. Opt-outs
    /// are not applied (see ``optOutRecords(for:)``).
    /// - Parameter nhs: The patient.
    /// - Returns: Records ordered by origin, then study UID.
    public func studies(for nhs: NHSNumber) -> [IndexRecord] {
        guard let keys = studiesByPatient[nhs] else { return [] }
        // The keys are sorted, not the records: a key is two strings, a record twenty fields, and a
        // record's origin and study UID are its key's.
        return keys.sorted { ($0.origin, $0.studyUID) < ($1.origin, $1.studyUID) }.compactMap { latest[$0] }
            .filter { $0.kind == .study }
    }

    /// Every listed study, ordered by origin, then study UID (opt-outs are not applied).
    public var studies: [IndexRecord] {
        latest.values.filter { $0.kind == .study }.sorted(by: Self.order)
    }

    /// For one study, each origin's latest record where that record still lists it (not
    /// withdrawn), newest first. Opt-outs are not applied: the caller decides what they hide.
    /// - Parameter studyUID: The study.
    public func holders(of studyUID: String) -> [IndexRecord] {
        latest.filter { $0.key.studyUID == studyUID && $0.value.kind == .study }.map(\.value)
            .sorted { $0.sequence > $1.sequence }
    }

    private static func order(_ a: IndexRecord, _ b: IndexRecord) -> Bool {
        (a.origin, a.studyUID ?? "") < (b.origin, b.studyUID ?? "")
    }
}
