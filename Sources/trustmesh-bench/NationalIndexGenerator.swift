import Foundation
import TrustMeshCrypto
import TrustMeshGossip
import TrustMeshModel

/// A deterministic stream of index-record drafts shaped like a national index, for `index-build`.
///
/// Patients hold 1 to 3 studies (45%, 35%, 20%) at origins drawn at random, and the first `heavy`
/// patients hold 50 each. A study is later re-announced (8%: more instances, a new manifest) or
/// withdrawn (2%) by its origin; after 1% of study records the patient opts out through that
/// study's origin, and a fifth of those withdraw the opt-out later. A patient's studies and follow-ups fall in later
/// windows than their first record (1 to 20 windows on, a heavy patient's anywhere up to the end),
/// so one patient's records lie far apart in every origin's log, as they would after months of
/// activity.
///
/// Records come a window at a time. Inside a window each origin's records take their sequence
/// numbers in NHS-number order: a window is a few weeks of national activity whose order within is
/// immaterial, and the catalogue's NHS-number index then receives one ordered sweep per origin and
/// window instead of a random insert per record (which, past SQLite's page cache, writes a page
/// per record). Every follow-up is at least one window after what it follows, so an origin's
/// withdrawal, re-announcement or opt-out always has a higher sequence than its study.
struct NationalIndexGenerator: Sendable {
    /// One record still to be made: everything but the sequence.
    private struct Event: Sendable {
        /// What it announces.
        var kind: IndexRecord.Kind
        /// The signing trust.
        var origin: TrustID
        /// The patient.
        var nhs: NHSNumber
        /// The study, for study records and withdrawals.
        var study: Study?
        /// The opt-out's statement.
        var statement: OptOutStatement?
        /// Whether it re-announces a study its origin announced before.
        var isUpdate = false
    }

    /// The fields of one study, kept so that a re-announcement or withdrawal repeats them.
    private struct Study: Sendable {
        var uid: String
        var date: String
        var modality: Modality
        var accession: String
        var series: Int
        var instances: Int
    }

    /// A kind of examination: modality, body part, description and a typical size.
    private struct Modality: Sendable {
        var code: String
        var bodyPart: String
        var description: String
        var series: ClosedRange<Int>
        var instances: ClosedRange<Int>
        var bytesPerInstance: Int
    }

    /// Examinations in rough proportion to an English imaging department's (radiographs first).
    private static let modalities: [(weight: Int, modality: Modality)] = [
        (
            30,
            Modality(
                code: "CR", bodyPart: "CHEST", description: "XR Chest PA", series: 1...2, instances: 1...2,
                bytesPerInstance: 8_400_000)
        ),
        (
            14,
            Modality(
                code: "DX", bodyPart: "KNEE", description: "XR Knee AP and lateral", series: 1...2, instances: 2...4,
                bytesPerInstance: 6_100_000)
        ),
        (
            18,
            Modality(
                code: "CT", bodyPart: "CHEST", description: "CT Chest abdomen pelvis with contrast", series: 3...8,
                instances: 250...900, bytesPerInstance: 526_000)
        ),
        (
            11,
            Modality(
                code: "MR", bodyPart: "HEAD", description: "MRI Head", series: 6...14, instances: 150...600,
                bytesPerInstance: 140_000)
        ),
        (
            16,
            Modality(
                code: "US", bodyPart: "ABDOMEN", description: "US Abdomen", series: 1...3, instances: 10...60,
                bytesPerInstance: 900_000)
        ),
        (
            6,
            Modality(
                code: "MG", bodyPart: "BREAST", description: "Mammography bilateral screening", series: 1...2,
                instances: 4...8, bytesPerInstance: 36_000_000)
        ),
        (
            3,
            Modality(
                code: "NM", bodyPart: "WHOLEBODY", description: "NM Bone scan whole body", series: 1...3,
                instances: 2...10, bytesPerInstance: 2_000_000)
        ),
        (
            2,
            Modality(
                code: "PT", bodyPart: "WHOLEBODY", description: "PET-CT FDG half body", series: 3...6,
                instances: 400...1100, bytesPerInstance: 300_000)
        ),
    ]

    /// The trusts whose logs the records extend.
    let origins: [TrustID]
    /// Patients with 50 studies each.
    let heavy: Int
    /// Records per window.
    let window: Int
    /// How many windows the whole index spans (heavy patients' studies spread over all of them).
    let windows: Int

    private var random: SplitMix64
    private var windowNumber = 0
    private var patients = 0
    private var studies = 0
    private var sequences: [TrustID: UInt64] = [:]
    /// Follow-ups due, by window.
    private var due: [Int: [Event]] = [:]

    /// How many records of each kind have been made (re-announced studies as `reannouncement`).
    private(set) var counts: [String: Int] = [:]
    /// The NHS numbers of the patients with 50 studies.
    private(set) var heavyPatients: [NHSNumber] = []
    /// A uniform sample of every patient made (reservoir sampling).
    private(set) var sample: [NHSNumber] = []
    /// How many patients the sample is to hold.
    let sampleSize: Int

    /// A generator.
    /// - Parameters:
    ///   - origins: The trusts that sign the records.
    ///   - records: How many records the index will hold (sets ``windows``).
    ///   - heavy: Patients with 50 studies.
    ///   - window: Records per window.
    ///   - sampleSize: Random patients to keep for the queries.
    ///   - seed: Makes the index reproducible.
    init(origins: [TrustID], records: Int, heavy: Int, window: Int, sampleSize: Int, seed: UInt64) {
        self.origins = origins
        self.heavy = heavy
        self.window = max(1, window)
        self.windows = max(1, (records + self.window - 1) / self.window)
        self.sampleSize = sampleSize
        random = SplitMix64(seed: seed)
    }

    /// The next `count` drafts (follow-ups due first, then new patients), sequences assigned, each
    /// origin's in NHS-number order, all issued at `issuedAt`.
    mutating func next(_ count: Int, issuedAt: String) -> [IndexRecord.Draft] {
        var events: [Event] = []
        events.reserveCapacity(count)
        var carried = due.removeValue(forKey: windowNumber) ?? []
        let take = min(count, carried.count)
        events.append(contentsOf: carried.prefix(take))
        carried.removeFirst(take)
        if !carried.isEmpty { due[windowNumber + 1, default: []].append(contentsOf: carried) }
        while events.count < count { events.append(newPatient()) }
        for event in events { schedule(after: event) }
        windowNumber += 1
        // Each origin's records in NHS-number order (stable: a patient's own order is kept).
        let ordered = events.enumerated().sorted {
            ($0.element.nhs.digits, $0.offset) < ($1.element.nhs.digits, $1.offset)
        }
        return ordered.map { _, event in
            let sequence = (sequences[event.origin] ?? 0) + 1
            sequences[event.origin] = sequence
            counts[event.isUpdate ? "reannouncement" : event.kind.rawValue, default: 0] += 1
            return draft(event, sequence: sequence, issuedAt: issuedAt)
        }
    }

    /// A new patient's first study; the rest of their studies are scheduled for later windows.
    private mutating func newPatient() -> Event {
        var nhs: NHSNumber?
        while nhs == nil {
            nhs = Self.nhsNumber(patients)
            patients += 1
        }
        let patient = nhs!
        let isHeavy = heavyPatients.count < heavy
        if isHeavy { heavyPatients.append(patient) }
        keepInSample(patient)
        let roll = random.next() % 100
        let total = isHeavy ? 50 : (roll < 45 ? 1 : roll < 80 ? 2 : 3)
        for _ in 1..<total {
            let later =
                isHeavy
                ? windowNumber + 1 + Int(random.next() % UInt64(max(1, windows - windowNumber - 1))) : later()
            due[later, default: []].append(studyEvent(for: patient))
        }
        return studyEvent(for: patient)
    }

    /// Reservoir sampling (Vitter's algorithm R): every patient so far equally likely to be kept.
    private mutating func keepInSample(_ patient: NHSNumber) {
        let seen = patients
        if sample.count < sampleSize {
            sample.append(patient)
        } else {
            let slot = Int(random.next() % UInt64(seen))
            if slot < sampleSize { sample[slot] = patient }
        }
    }

    /// Schedules what follows a record: a study's re-announcement or withdrawal, a patient's opt-out
    /// (after their first study), an opt-out's withdrawal.
    private mutating func schedule(after event: Event) {
        switch event.kind {
        case .study where event.study != nil:
            var study = event.study!
            let roll = random.next() % 1000
            if roll < 80 {
                study.instances += 1 + Int(random.next() % 40)
                due[later(), default: []].append(
                    Event(kind: .study, origin: event.origin, nhs: event.nhs, study: study, isUpdate: true))
            } else if roll < 100 {
                due[later(), default: []].append(
                    Event(kind: .withdrawn, origin: event.origin, nhs: event.nhs, study: study))
            } else if roll < 110 {
                let statement = OptOutStatement(
                    recordedBy: "Information governance officer", recorder: nil,
                    expression: "Opt-out form OPT-2026-\(random.next() % 1_000_000), scanned to the EPR", care: nil)
                due[later(), default: []].append(
                    Event(kind: .optOut, origin: event.origin, nhs: event.nhs, statement: statement))
            }
        case .optOut where random.next() % 5 == 0:
            var statement = event.statement!
            statement.expression = "Withdrawal letter WD-2026-\(random.next() % 1_000_000), scanned to the EPR"
            due[later(), default: []].append(
                Event(kind: .optOutWithdrawn, origin: event.origin, nhs: event.nhs, statement: statement))
        default:
            break
        }
    }

    /// A window 1 to 20 after the current one.
    private mutating func later() -> Int { windowNumber + 1 + Int(random.next() % 20) }

    /// A new study for `patient` at a random origin.
    private mutating func studyEvent(for patient: NHSNumber) -> Event {
        studies += 1
        let origin = origins[Int(random.next() % UInt64(origins.count))]
        var pick = Int(random.next() % UInt64(Self.modalities.reduce(0) { $0 + $1.weight }))
        var modality = Self.modalities[0].modality
        for entry in Self.modalities {
            if pick < entry.weight {
                modality = entry.modality
                break
            }
            pick -= entry.weight
        }
        let text = Self.studyDate(day: Int(random.next() % 4_350))  // 2015-01-01 plus up to ~11.9 years
        let series = Int.random(in: modality.series, using: &random)
        let instances = Int.random(in: modality.instances, using: &random)
        let study = Study(
            uid: "1.2.826.0.1.3680043.10.1017.\(studies).\(random.next() % 1_000_000_000)", date: text,
            modality: modality, accession: "\(origin.code)\(10_000_000 + random.next() % 90_000_000)", series: series,
            instances: instances)
        return Event(kind: .study, origin: origin, nhs: patient, study: study)
    }

    /// The draft of `event` at `sequence`.
    private mutating func draft(_ event: Event, sequence: UInt64, issuedAt: String) -> IndexRecord.Draft {
        guard let study = event.study else {
            return IndexRecord.Draft(
                origin: event.origin, sequence: sequence, kind: event.kind, nhsNumber: event.nhs, issuedAt: issuedAt,
                statement: event.statement)
        }
        if event.kind == .withdrawn {
            return IndexRecord.Draft(
                origin: event.origin, sequence: sequence, kind: .withdrawn, nhsNumber: event.nhs, studyUID: study.uid,
                issuedAt: issuedAt)
        }
        let manifest = try? Digest256(
            rawBytes: (0..<4).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } })
        return IndexRecord.Draft(
            origin: event.origin, sequence: sequence, kind: .study, nhsNumber: event.nhs, studyUID: study.uid,
            studyDate: study.date, modalities: [study.modality.code], bodyParts: [study.modality.bodyPart],
            studyDescription: study.modality.description, accessionNumber: study.accession, seriesCount: study.series,
            instanceCount: study.instances, sizeBytes: study.instances * study.modality.bytesPerInstance,
            manifestHash: manifest, issuedAt: issuedAt)
    }

    /// The DICOM date (`YYYYMMDD`) `day` days after 2015-01-01 (the civil-from-days algorithm of
    /// H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"; no calendar object per study).
    static func studyDate(day: Int) -> String {
        let z = 16_436 + day + 719_468  // 16,436: 2015-01-01 in days since 1970-01-01
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return String(year * 10_000 + month * 100 + dayOfMonth)
    }

    /// The NHS number of patient `n`: a bijection of `n` onto the nine-digit bases 100000000…999999999
    /// (multiplying by 7^10, prime to 900,000,000), plus the modulus-11 check digit; nil where the
    /// check digit would be 10 (no such number is issued).
    static func nhsNumber(_ n: Int) -> NHSNumber? {
        let base = 100_000_000 + (n &* 282_475_249) % 900_000_000
        let digits = String(base).compactMap { $0.wholeNumberValue }
        var sum = 0
        for (index, digit) in digits.enumerated() { sum += digit * (10 - index) }
        var check = 11 - sum % 11
        if check == 11 { check = 0 }
        guard check != 10 else { return nil }
        return try? NHSNumber(String(base) + String(check))
    }
}
