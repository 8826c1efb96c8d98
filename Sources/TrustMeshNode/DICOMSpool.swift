import Foundation
import Glibc
import Logging
import Synchronization
import TrustMeshDICOM
import TrustMeshDIMSE
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

/// C-STORE's write-ahead spool, `DIR/incoming/spool/`: an instance is answered Success once its
/// file there is durable, and catalogued (chunked, compressed, committed) afterwards by one
/// background worker, in batches (one catalogue transaction and one `syncfs` each).
///
/// Files:
/// - `.incoming-<uuid>.dcm`: an instance being received (the listener's file). Never answered;
///   removed on start-up.
/// - `<key>.journal`: one per association that stored something (`key` a UUID). JSON lines: who
///   sent (calling and called AE titles, address, the listener's association number), then one
///   line per study catalogued and a `published` line each time the studies before it were
///   published. Created, written and `fdatasync`ed before the association's first instance is.
/// - `<key>-<sequence>.dcm`: an instance answered Success, byte for byte what ingest catalogues (the
///   node's File Meta Information, then the data set as received). It gets this name only once its
///   bytes are on disk (`fdatasync`), and the folder is `fsync`ed before the answer, so every name
///   of this form is a whole instance the node has promised to keep.
///
/// An instance is removed from the spool once its catalogue commit is durable (and its study is in
/// the journal); an association's journal once its studies are published. On start-up the node
/// takes up every file left: instances are catalogued, then their associations published, with
/// the journal's sender as the actor, exactly as without the crash. An instance the ingest refuses
/// after it was answered (another door committed a contradicting one meanwhile, or the file is
/// corrupt) is moved to `DIR/incoming/quarantine/` beside a `.reason` file, logged and audited
/// (`ingestRefused`); a node failure (full disk, catalogue error) leaves it in the spool and the
/// worker tries again.
final class DICOMSpool: Sendable {
    /// Who sent an association's instances: the journal's first line.
    struct Sender: Codable, Sendable {
        var callingAETitle: String
        var calledAETitle: String
        var peer: String
        var association: Int
        var started: String

        /// The system a DICOM peer is in the audit log, as ``NodeDICOMService/actor(_:)`` names it.
        var actor: Actor { .system("DICOM \(callingAETitle) at \(peer)") }
    }

    /// One line of a journal.
    struct JournalLine: Codable {
        var sender: Sender?
        var catalogued: String?
        var unmatched: Bool?
        var published: Bool?
    }

    /// An instance accepted into the spool (reserved while its file is made durable).
    struct Entry: Sendable {
        var id: Int
        var key: String
        var name: String
        var sopInstanceUID: String
        var seriesUID: String
        var studyUID: String
        var nhsNumber: String?
        var bytes: Int
        /// Its SOP Instance UID was held or pending: answered with the ingest's own outcome.
        var awaited: Bool
    }

    /// An association that has stored instances, while any of them is not catalogued or its
    /// studies are not published.
    struct Association {
        var sender: Sender
        /// Whether its journal was written (before its first instance was).
        var journaled = false
        var nextSequence = 0
        /// Instances reserved or spooled and not yet catalogued (or quarantined).
        var pending = 0
        /// Studies catalogued and not yet published: study → unmatched (no NHS number).
        var catalogued: [String: Bool] = [:]
        var ended = false
        /// Waiting for `pending` to reach 0 (a C-FIND or C-MOVE on the association).
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private struct State {
        var associations: [String: Association] = [:]
        /// The listener's association number → key, while the association is open.
        var live: [Int: String] = [:]
        /// Spooled instances in arrival order, for the worker.
        var queue: [Entry] = []
        /// UIDs of instances reserved or spooled and not yet catalogued, with how many hold each.
        var instances: [String: Int] = [:]
        var series: [String: (study: String, count: Int)] = [:]
        var studies: [String: (nhsNumber: String?, count: Int)] = [:]
        /// Bytes of instances reserved or spooled and not yet catalogued.
        var pendingBytes = 0
        var outcomes: [Int: CheckedContinuation<DIMSEStatus, Never>] = [:]
        /// Outcomes of awaited instances settled before their C-STORE asked for them.
        var parked: [Int: DIMSEStatus] = [:]
        var nextEntry = 0
        var stopping = false
    }

    /// What ``reserve(_:checked:path:bytes:)`` decided.
    enum Reservation {
        case refused(StoreError)
        case reserved(Entry)
    }

    let directory: String
    let quarantine: String
    let node: LocalNode
    let logger: Logger
    private let state = Mutex(State())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    /// Kept free beyond what the instances waiting for the catalogue need (SQLite, audit).
    static let reserveBytes = 256 << 10
    /// Instances per catalogue transaction.
    static let batch = 64

    init(node: LocalNode, logger: Logger) {
        self.node = node
        self.logger = logger
        directory = node.directory + "/incoming/spool"
        quarantine = node.directory + "/incoming/quarantine"
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The spool's folder, created if missing.
    func folder() throws -> OutputFolder { try OutputFolder(path: directory, create: true) }

    // MARK: Answering a C-STORE

    /// Checks a received instance against the instances spooled and not yet catalogued, and
    /// reserves its place: its SOP Instance UID, series and study then count as pending for every
    /// association until it is catalogued or ``cancel(_:)`` is called.
    /// - Returns: a refusal (a series of another study, another patient's study), or the entry,
    ///   `awaited` when its SOP Instance UID is already pending (only the ingest can tell whether
    ///   it is the same instance again).
    func reserve(_ association: DIMSEAssociation, checked: CheckedInstance, path: String, bytes: Int) -> Reservation {
        state.withLock { state in
            var pending = HeldIdentity()
            if let held = state.series[checked.seriesUID] { pending.seriesStudy = held.study }
            if let held = state.studies[checked.studyUID] {
                pending.studyHeld = true
                pending.studyNHSNumber = held.nhsNumber
            }
            let awaited = state.instances[checked.sopInstanceUID] != nil
            if !awaited, case .refused(let error) = StudyStore.admission(checked, path: path, held: [pending]) {
                return .refused(error)
            }
            let key: String
            if let known = state.live[association.id], state.associations[known] != nil {
                key = known
            } else {
                key = UUID().uuidString
                state.live[association.id] = key
                state.associations[key] = Association(
                    sender: Sender(
                        callingAETitle: association.callingAETitle, calledAETitle: association.calledAETitle,
                        peer: association.peer, association: association.id,
                        started: ISO8601DateFormatter().string(from: Date())))
            }
            let sequence = state.associations[key]!.nextSequence
            state.associations[key]!.nextSequence += 1
            state.associations[key]!.pending += 1
            state.nextEntry += 1
            let entry = Entry(
                id: state.nextEntry, key: key, name: "\(key)-\(String(format: "%08d", sequence)).dcm",
                sopInstanceUID: checked.sopInstanceUID, seriesUID: checked.seriesUID, studyUID: checked.studyUID,
                nhsNumber: checked.nhsNumber?.digits, bytes: bytes, awaited: awaited)
            Self.count(entry, in: &state, by: 1)
            return .reserved(entry)
        }
    }

    /// Bytes the instances reserved or spooled, not yet catalogued, occupy.
    var pendingBytes: Int { state.withLock { $0.pendingBytes } }

    /// Gives up a reservation (the instance was refused or could not be made durable).
    func cancel(_ entry: Entry) {
        let waiters = state.withLock { state in
            Self.count(entry, in: &state, by: -1)
            return Self.settled(entry.key, in: &state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Makes a reserved instance durable under its spool name and hands it to the worker:
    /// `fdatasync` of the file (and of a new journal), its rename, `fsync` of the folder. After
    /// this returns, a crash loses nothing.
    /// - Parameter incoming: the received file, in the spool's folder.
    /// - Throws: `SpoolError` when a write, sync or rename fails (the caller cancels and refuses).
    func commit(_ entry: Entry, incoming: String) throws {
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else { throw SpoolError("open \(directory)", errno) }
        defer { close(folder) }
        // An association's C-STOREs come one at a time: nothing else writes its journal now.
        if let sender = state.withLock({ $0.associations[entry.key].flatMap { $0.journaled ? nil : $0.sender } }) {
            try appendJournal(entry.key, [JournalLine(sender: sender)], folder: folder, create: true)
            state.withLock { $0.associations[entry.key]?.journaled = true }
        }
        let fd = open(incoming, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SpoolError("open \(incoming)", errno) }
        let synced = fdatasync(fd)
        let syncError = errno
        close(fd)
        guard synced == 0 else { throw SpoolError("fdatasync \(incoming)", syncError) }
        guard renameat(AT_FDCWD, incoming, folder, entry.name) == 0 else {
            throw SpoolError("rename \(incoming) to \(entry.name)", errno)
        }
        guard fsync(folder) == 0 else {
            let code = errno
            unlinkat(folder, entry.name, 0)  // refused, so not to be catalogued by a later start
            throw SpoolError("fsync \(directory)", code)
        }
        state.withLock { $0.queue.append(entry) }
        wake.yield()
    }

    /// Waits for the worker's outcome for an awaited entry (committed with ``commit(_:incoming:)``).
    func outcome(of entry: Entry) async -> DIMSEStatus {
        await withCheckedContinuation { continuation in
            let done: DIMSEStatus? = state.withLock { state in
                // Settled already (the worker is fast): its outcome was parked under the entry.
                if let parked = state.parked.removeValue(forKey: entry.id) { return parked }
                state.outcomes[entry.id] = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    // MARK: Associations

    /// Waits until every instance the association has stored is catalogued.
    func waitUntilCatalogued(_ association: DIMSEAssociation) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                guard let key = state.live[association.id], state.associations[key]?.pending ?? 0 > 0 else {
                    return true
                }
                state.associations[key]!.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Publishes what the association has catalogued so far (it goes on: a C-FIND or C-MOVE on it).
    func publishCatalogued(_ association: DIMSEAssociation) async {
        await waitUntilCatalogued(association)
        let taken = state.withLock { state -> (String, Sender, [String: Bool])? in
            guard let key = state.live[association.id], let entry = state.associations[key],
                !entry.catalogued.isEmpty
            else { return nil }
            state.associations[key]!.catalogued = [:]
            return (key, entry.sender, entry.catalogued)
        }
        guard let taken else { return }
        publish(taken.0, sender: taken.1, studies: taken.2, ended: false)
    }

    /// The association is over: its studies are published once its last instance is catalogued
    /// (now, if it already is).
    func ended(_ association: DIMSEAssociation) {
        let ready = state.withLock { state -> (String, Sender, [String: Bool])? in
            guard let key = state.live.removeValue(forKey: association.id) else { return nil }
            state.associations[key]?.ended = true
            return Self.takeIfDone(key, in: &state)
        }
        if let ready { publish(ready.0, sender: ready.1, studies: ready.2, ended: true) }
    }

    /// Audits and publishes an association's catalogued studies (`ingest` entries, index records),
    /// then records that in its journal, or removes the journal when the association is over.
    /// Publishing is idempotent (a record only when a study's content changed), so a crash
    /// between the two at worst audits the `ingest` again, never publishes twice.
    private func publish(_ key: String, sender: Sender, studies: [String: Bool], ended: Bool) {
        do {
            if !studies.isEmpty {
                let published = try node.finishIngest(
                    studies: Set(studies.keys), unmatched: Set(studies.filter(\.value).keys), actor: sender.actor)
                logger.info(
                    "DICOM ingest finished",
                    metadata: [
                        "calling": "\(sender.callingAETitle)", "studies": "\(studies.count)",
                        "published": "\(published.count)",
                    ])
            }
            if ended {
                unlink(directory + "/" + key + ".journal")
            } else {
                try appendJournal(key, [JournalLine(published: true)], folder: nil, create: false, sync: false)
            }
        } catch {
            // The journal stays: the next start publishes again.
            logger.error(
                "could not audit or publish a DICOM ingest",
                metadata: ["error": "\(error)", "calling": "\(sender.callingAETitle)"])
        }
    }

    // MARK: The worker

    /// Catalogues spooled instances until ``finish()`` is called and the spool is empty (or the
    /// node fails while stopping: what is left stays for the next start).
    func run() async {
        var delay: Duration = .milliseconds(250)
        var failing = false
        for await _ in wakes {
            while true {
                await linger()
                guard let batch = take() else { break }
                guard let error = await catalogue(batch, audit: !failing) else {
                    failing = false
                    delay = .milliseconds(250)
                    continue
                }
                if !failing {
                    logger.error(
                        "DICOM spool: the node could not catalogue spooled instances; they stay in the spool",
                        metadata: ["error": "\(error)", "instances": "\(batch.count)"])
                }
                failing = true
                if state.withLock({ $0.stopping }) { return }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
            if state.withLock({ $0.stopping && $0.queue.isEmpty }) { return }
        }
    }

    /// Lets a batch fill while instances keep arriving (up to 100 ms): each catalogue transaction
    /// costs a `syncfs` and SQLite's flushes whatever its size, and every flush the worker forces
    /// competes on the disk with the next answer's `fdatasync`. Not when an instance waits for its
    /// own outcome (a SOP Instance UID held: its C-STORE is answered only once it is catalogued),
    /// nor while stopping.
    private func linger() async {
        for _ in 0..<10 {
            let full = state.withLock { state in
                state.queue.isEmpty || state.queue.count >= Self.batch || state.stopping
                    || state.queue.contains { $0.awaited }
            }
            if full { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the worker once it has catalogued what is spooled.
    func finish() {
        state.withLock { $0.stopping = true }
        wake.yield()
        wake.finish()
    }

    private func take() -> [Entry]? {
        state.withLock { state in
            guard !state.queue.isEmpty else { return nil }
            let batch = Array(state.queue.prefix(Self.batch))
            state.queue.removeFirst(batch.count)
            return batch
        }
    }

    /// One catalogue transaction for a batch; the error when the node failed (the batch is back
    /// at the head of the queue, but for awaited instances, answered 0xA700 and audited).
    /// - Parameter audit: whether to audit the failure (once per run of failures).
    private func catalogue(_ batch: [Entry], audit: Bool) async -> (any Error)? {
        let report: IngestReport
        do {
            report = try await node.store.ingest(
                paths: batch.map { directory + "/" + $0.name }, workers: 1, batchSize: Self.batch, mayCorrect: false)
        } catch {
            let waiting = batch.filter { !$0.awaited }
            let senders = state.withLock { state in batch.map { state.associations[$0.key]?.sender } }
            if audit, !waiting.isEmpty {
                let sender = senders[batch.firstIndex { !$0.awaited }!]
                try? node.audit(
                    .ingestFailed, actor: sender?.actor ?? .system("node"), subject: Self.subject(sender),
                    details: "C-STORE instances answered Success wait in incoming/spool for the catalogue, tried "
                        + "again until it takes them: \(error)")
            }
            for (entry, sender) in zip(batch, senders) where entry.awaited {
                unlink(directory + "/" + entry.name)
                try? node.audit(
                    .ingestFailed, actor: sender?.actor ?? .system("node"), subject: Self.subject(sender),
                    details: "C-STORE of \(entry.sopInstanceUID) refused with 0xA700: \(error)")
                settle(entry, outcome: .outOfResources(NodeDICOMService.nodeFailure))
            }
            state.withLock { $0.queue.insert(contentsOf: waiting, at: 0) }
            return error
        }
        var failures: [String: IngestReport.Failure] = [:]
        for failure in report.failures { failures[failure.path] = failure }
        var journal: [String: [JournalLine]] = [:]
        var done: [(Entry, DIMSEStatus?)] = []
        for entry in batch {
            let path = directory + "/" + entry.name
            if let failure = failures[path] {
                let reason = failure.reason.replacingOccurrences(of: path + ": ", with: "")
                    .replacingOccurrences(of: path, with: "the instance")
                if entry.awaited {
                    unlink(path)
                    done.append(
                        (
                            entry,
                            failure.identityConflict == true
                                ? .doesNotMatchSOPClass(reason) : .cannotUnderstand(reason)
                        ))
                } else {
                    quarantine(entry, reason: reason)
                    done.append((entry, nil))
                }
                continue
            }
            let unmatched = entry.nhsNumber == nil
            let isNew = state.withLock { state -> Bool in
                guard state.associations[entry.key]?.catalogued[entry.studyUID] == nil else { return false }
                state.associations[entry.key]?.catalogued[entry.studyUID] = unmatched
                return true
            }
            if isNew {
                journal[entry.key, default: []].append(JournalLine(catalogued: entry.studyUID, unmatched: unmatched))
            }
            done.append((entry, .success))
        }
        // The studies go into their journals (durably) before the instances leave the spool: a
        // crash after this still publishes them.
        for (key, lines) in journal {
            do {
                try appendJournal(key, lines, folder: nil, create: false)
            } catch {
                logger.error("DICOM spool: cannot write a journal", metadata: ["error": "\(error)"])
            }
        }
        for (entry, status) in done {
            if status == .success { unlink(directory + "/" + entry.name) }
            settle(entry, outcome: status)
        }
        return nil
    }

    /// An instance has left the spool: counts, waiters, and the association's publishing.
    private func settle(_ entry: Entry, outcome: DIMSEStatus?) {
        let (continuation, waiters, done) = state.withLock {
            state -> (
                CheckedContinuation<DIMSEStatus, Never>?, [CheckedContinuation<Void, Never>],
                (String, Sender, [String: Bool])?
            ) in
            Self.count(entry, in: &state, by: -1)
            var continuation: CheckedContinuation<DIMSEStatus, Never>?
            if entry.awaited, let outcome {
                continuation = state.outcomes.removeValue(forKey: entry.id)
                if continuation == nil { state.parked[entry.id] = outcome }
            }
            let waiters = Self.settled(entry.key, in: &state)
            return (continuation, waiters, Self.takeIfDone(entry.key, in: &state))
        }
        if let continuation, let outcome { continuation.resume(returning: outcome) }
        for waiter in waiters { waiter.resume() }
        if let done { publish(done.0, sender: done.1, studies: done.2, ended: true) }
    }

    /// Moves an instance the ingest refused after it was answered to the quarantine folder, with
    /// its reason beside it; logs and audits it.
    private func quarantine(_ entry: Entry, reason: String) {
        let sender = state.withLock { $0.associations[entry.key]?.sender }
        moveToQuarantine(entry.name, reason: reason)
        logger.error(
            "DICOM spool: an instance answered Success was refused by the ingest; kept in incoming/quarantine",
            metadata: ["sopInstanceUID": "\(entry.sopInstanceUID)", "reason": "\(reason)", "file": "\(entry.name)"])
        try? node.audit(
            .ingestRefused, actor: sender?.actor ?? .system("node"), subject: Self.subject(sender),
            details:
                "C-STORE of \(entry.sopInstanceUID) was answered Success, then refused by the ingest: \(reason); "
                + "kept as incoming/quarantine/\(entry.name)")
    }

    private func moveToQuarantine(_ name: String, reason: String) {
        do {
            _ = try OutputFolder(path: quarantine, create: true)
            if rename(directory + "/" + name, quarantine + "/" + name) != 0 {
                throw SpoolError("rename \(name) into \(quarantine)", errno)
            }
            try Data((reason + "\n").utf8).write(to: URL(fileURLWithPath: quarantine + "/" + name + ".reason"))
        } catch {
            logger.error(
                "DICOM spool: cannot quarantine a file; it stays in the spool", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Start-up

    /// Takes up what a previous run left: removes half-received files, queues every spooled
    /// instance (checked again; one no longer readable is quarantined), and publishes the studies
    /// of associations whose instances were all catalogued. Run before the listener serves.
    /// - Returns: the instances queued.
    @discardableResult
    func recover() throws -> Int {
        _ = try self.folder()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        var journals: [String] = []
        var instances: [String: [String]] = [:]
        for name in names {
            if name.hasPrefix(".incoming-") {
                unlink(directory + "/" + name)
            } else if name.hasSuffix(".journal") {
                journals.append(String(name.dropLast(".journal".count)))
            } else if name.hasSuffix(".dcm"), let dash = name.lastIndex(of: "-") {
                instances[String(name[..<dash]), default: []].append(name)
            }
        }
        var queued = 0
        var ready: [(String, Sender, [String: Bool])] = []
        for key in journals {
            let files = instances.removeValue(forKey: key) ?? []
            guard let (sender, catalogued) = readJournal(key) else {
                for name in files {
                    moveToQuarantine(name, reason: "its association's journal \(key).journal is unreadable")
                }
                logger.error("DICOM spool: an unreadable journal", metadata: ["journal": "\(key).journal"])
                if files.isEmpty { unlink(directory + "/" + key + ".journal") }
                continue
            }
            var entries: [Entry] = []
            for name in files {
                let path = directory + "/" + name
                do {
                    let checked = try StudyStore.check(path: path)
                    let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                    entries.append(
                        Entry(
                            id: 0, key: key, name: name, sopInstanceUID: checked.sopInstanceUID,
                            seriesUID: checked.seriesUID, studyUID: checked.studyUID,
                            nhsNumber: checked.nhsNumber?.digits, bytes: bytes, awaited: false))
                } catch {
                    let reason = error.description.replacingOccurrences(of: path + ": ", with: "")
                        .replacingOccurrences(of: path, with: "the instance")
                    moveToQuarantine(name, reason: reason)
                    logger.error(
                        "DICOM spool: a spooled instance is no longer readable; kept in incoming/quarantine",
                        metadata: ["file": "\(name)", "reason": "\(reason)"])
                    try? node.audit(
                        .ingestRefused, actor: sender.actor, subject: Self.subject(sender),
                        details: "a spooled C-STORE instance could not be read again: \(reason); "
                            + "kept as incoming/quarantine/\(name)")
                }
            }
            let publishNow = state.withLock { state -> (String, Sender, [String: Bool])? in
                var association = Association(sender: sender, journaled: true, catalogued: catalogued)
                association.ended = true
                state.associations[key] = association
                for var entry in entries {
                    state.nextEntry += 1
                    entry.id = state.nextEntry
                    state.associations[key]!.pending += 1
                    Self.count(entry, in: &state, by: 1)
                    state.queue.append(entry)
                }
                return Self.takeIfDone(key, in: &state)
            }
            queued += entries.count
            if let publishNow { ready.append(publishNow) }
        }
        for (key, files) in instances {
            for name in files { moveToQuarantine(name, reason: "no journal \(key).journal names who sent it") }
            logger.error(
                "DICOM spool: instances without a journal; kept in incoming/quarantine", metadata: ["key": "\(key)"])
        }
        if queued > 0 || !ready.isEmpty {
            logger.notice(
                "DICOM spool: taking up what the last run left",
                metadata: ["instances": "\(queued)", "associations": "\(journals.count)"])
        }
        for (key, sender, studies) in ready { publish(key, sender: sender, studies: studies, ended: true) }
        if queued > 0 { wake.yield() }
        return queued
    }

    /// A journal's sender and the studies catalogued since its last `published` line; nil when
    /// it has no readable first line.
    private func readJournal(_ key: String) -> (Sender, [String: Bool])? {
        guard let text = try? String(contentsOfFile: directory + "/" + key + ".journal", encoding: .utf8) else {
            return nil
        }
        let decoder = JSONDecoder()
        var sender: Sender?
        var catalogued: [String: Bool] = [:]
        for line in text.split(separator: "\n") {
            // A line torn by the crash (never synced) is the last one, and only names a study.
            guard let entry = try? decoder.decode(JournalLine.self, from: Data(line.utf8)) else { continue }
            if let first = entry.sender, sender == nil { sender = first }
            if let study = entry.catalogued { catalogued[study] = entry.unmatched ?? false }
            if entry.published == true { catalogued = [:] }
        }
        return sender.map { ($0, catalogued) }
    }

    // MARK: Helpers

    /// An audit entry's subject for what an association sent: the peer's address.
    private static func subject(_ sender: Sender?) -> [AuditEntry.SubjectKey: String] {
        guard let sender else { return [:] }
        return [.peer: sender.peer]
    }

    /// Appends lines to a journal (creating it first when `create`), `fdatasync` when `sync`.
    private func appendJournal(_ key: String, _ lines: [JournalLine], folder: Int32?, create: Bool, sync: Bool = true)
        throws
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var bytes: [UInt8] = []
        for line in lines { bytes += Array(try encoder.encode(line)) + [0x0A] }
        let name = key + ".journal"
        let flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT | O_TRUNC : 0)
        let fd = folder.map { openat($0, name, flags, 0o600) } ?? open(directory + "/" + name, flags, 0o600)
        guard fd >= 0 else { throw SpoolError("open \(name)", errno) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SpoolError("write \(name)", errno)
            }
            offset += written
        }
        if sync, fdatasync(fd) != 0 { throw SpoolError("fdatasync \(name)", errno) }
    }

    private static func count(_ entry: Entry, in state: inout State, by delta: Int) {
        state.pendingBytes += delta * entry.bytes
        let instances = (state.instances[entry.sopInstanceUID] ?? 0) + delta
        state.instances[entry.sopInstanceUID] = instances > 0 ? instances : nil
        let series = (state.series[entry.seriesUID]?.count ?? 0) + delta
        state.series[entry.seriesUID] = series > 0 ? (entry.studyUID, series) : nil
        let studies = (state.studies[entry.studyUID]?.count ?? 0) + delta
        state.studies[entry.studyUID] = studies > 0 ? (entry.nhsNumber, studies) : nil
    }

    /// One fewer instance pending for the association: the waiters to resume when none is left.
    private static func settled(_ key: String, in state: inout State) -> [CheckedContinuation<Void, Never>] {
        guard state.associations[key] != nil else { return [] }
        state.associations[key]!.pending -= 1
        guard state.associations[key]!.pending == 0 else { return [] }
        let waiters = state.associations[key]!.waiters
        state.associations[key]!.waiters = []
        return waiters
    }

    /// An ended association with nothing pending leaves the state; its studies are to be published.
    private static func takeIfDone(_ key: String, in state: inout State) -> (String, Sender, [String: Bool])? {
        guard let association = state.associations[key], association.ended, association.pending == 0 else {
            return nil
        }
        state.associations[key] = nil
        return (key, association.sender, association.catalogued)
    }
}

/// A spool file operation that failed, with its errno.
struct SpoolError: Error, CustomStringConvertible {
    let operation: String
    let code: Int32

    init(_ operation: String, _ code: Int32) {
        self.operation = operation
        self.code = code
    }

    var description: String { "\(operation): \(String(cString: strerror(code)))" }

    /// Whether the disk was full (`ENOSPC`, `EDQUOT`).
    var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }
}
