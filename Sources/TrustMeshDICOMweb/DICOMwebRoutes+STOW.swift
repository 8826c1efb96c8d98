import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TrustMeshAccess
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

// STOW-RS (PS3.18 §10.5): stores the instances of a multipart request.
extension DICOMwebRoutes {
    // MARK: STOW-RS

    /// A part the door refused, or the store refused, with what the response and audit say.
    private struct Failure: Sendable {
        var sopClassUID: String?
        var sopInstanceUID: String?
        var reason: UInt16
        var text: String
    }

    /// What became of one part once it was whole.
    private enum PartResult: Sendable {
        /// Chunked and its new chunks written; waiting for the commit.
        case prepared(PreparedInstance)
        /// Refused by the door's own checks (audited by the door).
        case failed(Failure)
        /// Refused by the store as ingest refuses a file (audited with the ingest's refusals).
        case refused(Failure, IngestReport.Failure)
    }

    /// One part as it arrives: in memory up to ``partMemoryLimit`` bytes, then in a file of the
    /// request's private temporary folder.
    private struct IncomingPart: Sendable {
        var index: Int
        /// Set when the part is refused whatever its content (not application/dicom): its bytes
        /// are not kept.
        var refusal: Failure?
        var bytes: [UInt8] = []
        /// The temporary file holding the part, once it outgrew memory.
        var file: String?
        var fd: Int32 = -1
        var count = 0
        var complete = false
    }

    /// Largest part kept in memory while it arrives and is prepared; a larger one goes to a
    /// temporary file. With one part arriving and one being prepared per core, this bounds the
    /// memory a request takes whatever the study's size.
    static let partMemoryLimit = 8 << 20

    /// Bytes of parts after which the chunks written so far are flushed in the background.
    static let flushEvery = 32 << 20

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// A part's name in responses, logs and audit entries (the first part is `part-1.dcm`).
    private static func partName(_ index: Int) -> String { "part-\(index + 1).dcm" }

    /// PS3.18 §10.5.3 / PS3.4 Annex B status codes used as FailureReason (0008,1197).
    enum FailureReason {
        static let processingFailure: UInt16 = 0x0110
        static let outOfResources: UInt16 = 0xA700
        static let doesNotMatch: UInt16 = 0xA900
        static let cannotUnderstand: UInt16 = 0xC000
    }

    /// STOW-RS on a full disk: 507 Insufficient Storage (RFC 4918 §11.5), nothing kept.
    static let diskFull = DICOMwebError(
        status: 507, message: "the node's disk is full: nothing of this request was stored")

    /// The first of a part's UIDs that is not a valid UID (the store checks them again).
    private static func invalidUID(_ a: DICOMAttributes) -> InvalidUID? {
        for (keyword, value) in [
            ("StudyInstanceUID", a.studyInstanceUID), ("SeriesInstanceUID", a.seriesInstanceUID),
            ("SOPInstanceUID", a.sopInstanceUID), ("SOPClassUID", a.sopClassUID),
        ] {
            guard let value else { continue }
            do { try DICOMUID.check(value, attribute: keyword) } catch { return error }
        }
        return nil
    }

    func store(_ request: Request, study: String?) async throws -> Response {
        try requireJSON(request)
        guard let header = request.headers[.contentType], let media = MediaType(header),
            media.type == "multipart/related"
        else {
            throw DICOMwebError.unsupportedMediaType(
                "STOW-RS takes multipart/related; type=\"application/dicom\"; boundary=...")
        }
        if let type = media.parameters["type"]?.lowercased(), type != "application/dicom" {
            throw DICOMwebError.unsupportedMediaType(
                "only application/dicom parts are stored (not \(type): metadata with bulk data is not supported)")
        }
        guard let boundary = media.parameters["boundary"], (1...70).contains(boundary.count) else {
            throw DICOMwebError.badRequest("the Content-Type has no boundary (1 to 70 characters, RFC 2046)")
        }
        let actor = actor(request)
        // The size cap, before anything is written: the announced length, then the bytes as they come.
        func tooLarge() -> DICOMwebError {
            let error = DICOMwebError(
                status: 413,
                message: "STOW-RS requests are limited to \(stowMaximumBytes) bytes on this node: nothing was stored")
            try? node.audit(.ingestRefused, actor: actor, details: "STOW-RS: \(error.message)")
            return error
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > stowMaximumBytes {
            throw tooLarge()
        }

        // Each part, once whole, goes to an ingest worker while the next one is still arriving:
        // kept in memory up to `partMemoryLimit` (a larger one in a private temporary file),
        // checked, chunked and its new chunks written; the catalogue commit waits for the end of
        // the body, so a refused request or a client gone mid-body commits nothing.
        let session = IngestSession(store: node.store, mayCorrect: Caller.current?.may(.ingest) == true)
        let spill = STOWSpillFolder(
            path: node.directory + "/tmp/stow-" + Random.bytes(8).map { String(format: "%02x", $0) }.joined())
        defer { spill.remove() }
        let clock = ContinuousClock()
        let started = clock.now
        var results: [PartResult?] = []
        do {
            results = try await receive(request, boundary: boundary, study: study, session: session, spill: spill) {
                tooLarge()
            }
        } catch {
            session.abandon()
            spill.remove()  // first, so the audit has room
            throw stopped(error, stored: 0, actor: actor)
        }
        let received = clock.now
        guard !results.isEmpty else {
            session.abandon()
            throw DICOMwebError.badRequest("the request holds no part")
        }

        var failures: [Int: Failure] = [:]
        var prepared: [PreparedInstance] = []
        var stored: [Int: PreparedInstance] = [:]
        var part: [String: Int] = [:]
        var refusedEarly: [IngestReport.Failure] = []
        for (index, result) in results.enumerated() {
            switch result! {
            case .prepared(let instance):
                part[instance.path] = index
                prepared.append(instance)
                stored[index] = instance
            case .failed(let failure):
                failures[index] = failure
            case .refused(let failure, let reason):
                failures[index] = failure
                refusedEarly.append(reason)
            }
        }
        do {
            // Every refusal is audited: the door's own here, the store's with the ingest's entries.
            try node.auditRefused(
                failures.sorted { $0.key < $1.key }.map { "STOW-RS \(Self.partName($0.key)): \($0.value.text)" },
                actor: actor)
            let report: IngestReport
            do { report = try session.commit(prepared) } catch {
                // What was committed is whole: audited and published as any ingest's, then why the
                // rest was not stored (best effort: on a full disk the log may not have room either).
                let done = error.report
                _ = try? node.finishIngest(
                    studies: Set(done.studies), unmatched: Set(done.unmatchedStudies),
                    refused: refusedEarly + done.failures, corrections: done.corrections, actor: actor)
                throw stopped(error.cause, stored: done.instancesIngested, actor: actor, committing: true)
            }
            try node.finishIngest(
                studies: Set(report.studies), unmatched: Set(report.unmatchedStudies),
                refused: refusedEarly + report.failures, corrections: report.corrections, actor: actor)
            for failure in report.failures {
                guard let index = part[failure.path], let a = stored.removeValue(forKey: index)?.attributes else {
                    continue
                }
                failures[index] = Failure(
                    sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID,
                    reason: failure.identityConflict == true
                        ? FailureReason.doesNotMatch : FailureReason.processingFailure,
                    text: failure.reason)
            }
        } catch {
            session.abandon()
            throw error
        }

        let base = base(request)
        var response = DICOMJSONObject()
        var storedItems: [DICOMJSONObject] = []
        var failed: [DICOMJSONObject] = []
        var warnings: [String] = []
        var studies: Set<String> = []
        for index in results.indices {
            if let instance = stored[index] {
                let a = instance.attributes
                var item = DICOMJSONObject()
                item.set(0x0008_1150, .ui, a.sopClassUID)
                item.set(0x0008_1155, .ui, a.sopInstanceUID)
                item.set(
                    0x0008_1190, .ur,
                    base
                        + "/studies/\(instance.studyUID)/series/\(instance.seriesUID)/instances/\(instance.sopInstanceUID)"
                )
                studies.insert(instance.studyUID)
                storedItems.append(item)
            } else if let failure = failures[index] {
                var item = DICOMJSONObject()
                item.set(0x0008_1150, .ui, failure.sopClassUID)
                item.set(0x0008_1155, .ui, failure.sopInstanceUID)
                item.set(0x0008_1197, .us, integer: Int(failure.reason))
                failed.append(item)
                let name = Self.partName(index)
                warnings.append(Self.warning("\(name): \(failure.text)"))
                logger.notice("STOW-RS part refused", metadata: ["part": "\(name)", "reason": "\(failure.text)"])
            }
        }
        if let only = study ?? (studies.count == 1 ? studies.first : nil) {
            response.set(0x0008_1190, .ur, base + "/studies/" + only)
        }
        if !storedItems.isEmpty { response.set(0x0008_1199, items: storedItems) }
        if !failed.isEmpty { response.set(0x0008_1198, items: failed) }
        let status: HTTPResponse.Status = failed.isEmpty ? .ok : storedItems.isEmpty ? .conflict : .accepted
        // Where the time went: the body (parts prepared as they arrived), then the commit, audit and publishing.
        logger.info(
            "STOW-RS store",
            metadata: [
                "stored": "\(storedItems.count)", "failed": "\(failed.count)",
                "receiveSeconds": "\(Self.seconds(received - started))",
                "commitSeconds": "\(Self.seconds(clock.now - received))",
            ])
        var answer = Response(
            status: status, body: .init(byteBuffer: ByteBuffer(bytes: DICOMJSONObject.encode(response))))
        answer.headers[.contentType] = "application/dicom+json"
        for warning in warnings.prefix(100) { answer.headers.append(HTTPField(name: .warning, value: warning)) }
        return answer
    }

    /// Reads the body, handing each part to an ingest worker (one per core, as `trustmesh ingest`
    /// has) as soon as it is whole, while the next part arrives. When every worker is busy it
    /// waits for one before reading on, so at most one part per worker plus the one arriving is
    /// held, whatever the number of parts.
    /// - Returns: each part's result, in the order the parts came.
    /// - Throws: ``DICOMwebError`` for a body too large (413), framing that is not multipart (400)
    ///   or a full disk (507); the body's own error when the client goes away; the store's error
    ///   when the node fails. The workers have finished when it throws.
    private func receive(
        _ request: Request, boundary: String, study: String?, session: IngestSession, spill: STOWSpillFolder,
        tooLarge: () -> DICOMwebError
    ) async throws -> [PartResult?] {
        var parser = MultipartParser(boundary: boundary)
        var results: [PartResult?] = []
        var current: IncomingPart?
        defer { if let fd = current?.fd, fd >= 0 { close(fd) } }
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let limit = stowMaximumBytes
        try await withThrowingTaskGroup(of: (index: Int, result: PartResult).self) { group in
            var running = 0
            var received = 0
            var lastSize = 0
            var unflushed = 0
            var body = request.body.makeAsyncIterator()
            var ended = false
            while !ended {
                let events: [MultipartParser.Event]
                if let buffer = try await body.next() {
                    received += buffer.readableBytes
                    guard received <= limit else { throw tooLarge() }
                    events = try parser.feed(buffer.readableBytesView)
                } else {
                    events = try parser.finish()
                    ended = true
                }
                for event in events {
                    switch event {
                    case .begin(let headers):
                        var part = IncomingPart(index: results.count)
                        if let type = headers["content-type"].flatMap({ MediaType($0) })?.type,
                            type != "application/dicom"
                        {
                            part.refusal = Failure(
                                reason: FailureReason.cannotUnderstand,
                                text: "the part is \(type), not application/dicom")
                        } else {
                            // Parts of a study are mostly alike in size: no regrowth for the next.
                            part.bytes.reserveCapacity(min(lastSize, Self.partMemoryLimit))
                        }
                        results.append(nil)
                        current = part
                    case .content(let bytes):
                        try Self.append(bytes, to: &current!, spill: spill)
                    case .end(let complete):
                        var part = current!
                        current = nil
                        part.complete = complete
                        if part.fd >= 0 {
                            close(part.fd)
                            part.fd = -1
                        }
                        lastSize = part.count
                        // The chunks written so far start going to disk while the body arrives, so
                        // the flush before the commit has little left (as the CLI's ingest flushes
                        // every 64 instances).
                        unflushed += part.count
                        if unflushed >= Self.flushEvery {
                            session.flushInBackground()
                            unflushed = 0
                        }
                        if running >= workers, let done = try await group.next() {
                            results[done.index] = done.result
                            running -= 1
                        }
                        let whole = part
                        group.addTask { (whole.index, try Self.prepare(whole, study: study, session: session)) }
                        running += 1
                    }
                }
            }
            while let done = try await group.next() { results[done.index] = done.result }
        }
        return results
    }

    /// Keeps a piece of the part arriving: in memory, or in its temporary file once it outgrows
    /// ``partMemoryLimit``. A refused part's bytes are dropped.
    /// - Throws: ``diskFull`` when the disk is full, else ``NodeError``.
    private static func append(_ bytes: ArraySlice<UInt8>, to part: inout IncomingPart, spill: STOWSpillFolder) throws {
        guard part.refusal == nil else { return }
        part.count += bytes.count
        if part.file == nil {
            guard part.count > partMemoryLimit else {
                part.bytes.append(contentsOf: bytes)
                return
            }
            let (path, fd) = try spill.create(partName(part.index))
            part.file = path
            part.fd = fd
            try write(part.bytes, to: &part)
            part.bytes = []
        }
        try write(bytes, to: &part)
    }

    private static func write(_ bytes: some ContiguousBytes, to part: inout IncomingPart) throws {
        try bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(part.fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    let error = errno
                    if error == ENOSPC || error == EDQUOT {
                        close(part.fd)  // the space comes back only once the file is closed and removed
                        part.fd = -1
                        throw diskFull
                    }
                    throw NodeError.io(path: part.file ?? "", reason: "write failed (errno \(error))")
                }
                done += n
            }
        }
    }

    /// Checks one whole part as the door always has (complete, `application/dicom`, readable
    /// DICOM, valid UIDs, in the study the path names), then has the store validate, chunk and
    /// write it as ingest does. Its temporary file, if any, is removed.
    /// - Throws: the store's error only when the node itself fails; a refused part is a result.
    private static func prepare(_ part: IncomingPart, study: String?, session: IngestSession) throws -> PartResult {
        defer { if let file = part.file { unlink(file) } }
        if let refusal = part.refusal { return .failed(refusal) }
        guard part.complete else {
            return .failed(
                Failure(
                    reason: FailureReason.cannotUnderstand, text: "the body ended before this part's closing boundary"))
        }
        let info: DICOMFileInfo
        do {
            if let file = part.file {
                info = try DICOMReader.read(path: file)
            } else {
                var source = BytesSource(part.bytes)
                info = try DICOMReader.read(source: &source)
            }
        } catch {
            return .failed(Failure(reason: FailureReason.cannotUnderstand, text: "not DICOM: \(error)"))
        }
        let a = info.attributes
        if let invalid = invalidUID(a) {
            return .failed(
                Failure(
                    sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID,
                    reason: FailureReason.cannotUnderstand, text: "\(invalid)"))
        }
        if let study, a.studyInstanceUID != study {
            return .failed(
                Failure(
                    sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID, reason: FailureReason.doesNotMatch,
                    text: "the instance belongs to study \(a.studyInstanceUID ?? "(none)"), not \(study)"))
        }
        let name = partName(part.index)
        do {
            let content: IngestSession.Content = part.file.map { .file(path: $0) } ?? .bytes(part.bytes)
            return .prepared(try session.prepare(name: name, info: info, content: content))
        } catch let error as StoreError where error.isBadInput {
            let failure = Failure(
                sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID,
                reason: error.isIdentityConflict ? FailureReason.doesNotMatch : FailureReason.processingFailure,
                text: error.description)
            return .refused(failure, IngestReport.Failure(path: name, reason: error.description))
        }
    }

    /// The answer to a request the node could not finish, audited (`ingestFailed`) unless the door
    /// already audited it: a full disk is 507, another failure of the node 500; both say how many
    /// instances were stored before it. Refusals (413, 400) and a client gone away pass through.
    /// - Parameter committing: whether the catalogue commit had begun (every error is then the node's).
    private func stopped(_ error: any Error, stored: Int, actor: Actor, committing: Bool = false) -> any Error {
        let kept = stored == 0 ? "nothing of this request was stored" : "\(stored) instance(s) were stored before it"
        if let refusal = error as? DICOMwebError {
            if refusal.status == 507 {
                try? node.audit(.ingestFailed, actor: actor, details: "STOW-RS: \(refusal.message)")
            }
            return refusal
        }
        let failure = error as? StoreError
        guard committing || failure != nil else { return error }
        try? node.audit(.ingestFailed, actor: actor, details: "STOW-RS: \(error)")
        if failure?.isDiskFull == true {
            return DICOMwebError(status: 507, message: "the node's disk is full: \(kept)")
        }
        return DICOMwebError(status: 500, message: "the node could not store the instances: \(kept); see its log")
    }
}

/// A STOW-RS request's private temporary folder (`DIR/tmp/stow-*`, 0700), made only when a part
/// outgrows memory; parts are created in it relative to its descriptor, never through a link
/// (``OutputFolder``), and it goes, with whatever is left in it, when the request ends.
private final class STOWSpillFolder {
    let path: String
    private var folder: OutputFolder?

    init(path: String) { self.path = path }

    /// Creates a new part file.
    /// - Returns: its path and a descriptor open for writing (the caller closes it).
    /// - Throws: ``DICOMwebRoutes/diskFull`` on a full disk, else ``NodeError``.
    func create(_ name: String) throws -> (path: String, fd: Int32) {
        do {
            if folder == nil { folder = try OutputFolder(path: path, create: true) }
            return (path + "/" + name, try folder!.createFile(name))
        } catch {
            if error.isDiskFull { throw DICOMwebRoutes.diskFull }
            throw NodeError.io(path: path + "/" + name, reason: "\(error)")
        }
    }

    /// Removes the folder and every part left in it.
    func remove() {
        guard folder != nil else { return }
        folder = nil
        try? FileManager.default.removeItem(atPath: path)
    }
}

@available(*, unavailable) extension STOWSpillFolder: Sendable {}
