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

    /// One part of a STOW-RS request, written to its own file.
    private struct Part {
        var path: String
        var headers: [String: String]
        var complete = false
        var bytes = 0
    }

    private struct Failure {
        var sopClassUID: String?
        var sopInstanceUID: String?
        var reason: UInt16
        var text: String
    }

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

        let folder = node.directory + "/tmp/stow-" + Random.bytes(8).map { String(format: "%02x", $0) }.joined()
        // Parts are created relative to the folder's descriptor, never through a link, under names
        // built here (OutputFolder).
        let output: OutputFolder
        do { output = try OutputFolder(path: folder, create: true) } catch {
            throw NodeError.io(path: folder, reason: "\(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }

        // The body goes to disk part by part as it arrives: memory holds one network buffer.
        var parser = MultipartParser(boundary: boundary)
        var parts: [Part] = []
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        func handle(_ events: [MultipartParser.Event]) throws {
            for event in events {
                switch event {
                case .begin(let headers):
                    let name = "part-\(parts.count + 1).dcm"
                    let path = folder + "/" + name
                    do { fd = try output.createFile(name) } catch {
                        if error.isDiskFull { throw Self.diskFull }
                        throw NodeError.io(path: path, reason: "\(error)")
                    }
                    parts.append(Part(path: path, headers: headers))
                case .content(let bytes):
                    try bytes.withUnsafeBytes { buffer in
                        var done = 0
                        while done < buffer.count {
                            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                            if n < 0 && errno == EINTR { continue }
                            guard n > 0 else {
                                if errno == ENOSPC || errno == EDQUOT {
                                    close(fd)  // the space comes back only once the file is closed and removed
                                    fd = -1
                                    throw Self.diskFull
                                }
                                throw NodeError.io(path: parts.last!.path, reason: "write failed (errno \(errno))")
                            }
                            done += n
                        }
                    }
                    parts[parts.count - 1].bytes += bytes.count
                case .end(let complete):
                    parts[parts.count - 1].complete = complete
                    close(fd)
                    fd = -1
                }
            }
        }
        do {
            var received = 0
            for try await buffer in request.body {
                received += buffer.readableBytes
                guard received <= stowMaximumBytes else { throw tooLarge() }
                try handle(try parser.feed(buffer.readableBytesView))
            }
            try handle(try parser.finish())
        } catch let error as DICOMwebError where error.status == 507 {
            try? FileManager.default.removeItem(atPath: folder)  // first, so the audit has room
            try? node.audit(.ingestFailed, actor: actor, details: "STOW-RS: \(error.message)")
            throw error
        }
        guard !parts.isEmpty else { throw DICOMwebError.badRequest("the request holds no part") }

        // Check each part before the store sees it; the store then validates as for any ingest.
        var failures: [String: Failure] = [:]
        var candidates: [String: DICOMAttributes] = [:]
        for part in parts {
            if !part.complete {
                failures[part.path] = Failure(
                    reason: FailureReason.cannotUnderstand, text: "the body ended before this part's closing boundary")
                continue
            }
            if let type = part.headers["content-type"].flatMap({ MediaType($0) })?.type, type != "application/dicom" {
                failures[part.path] = Failure(
                    reason: FailureReason.cannotUnderstand, text: "the part is \(type), not application/dicom")
                continue
            }
            let info: DICOMFileInfo
            do { info = try DICOMReader.read(path: part.path) } catch {
                failures[part.path] = Failure(reason: FailureReason.cannotUnderstand, text: "not DICOM: \(error)")
                continue
            }
            let a = info.attributes
            if let invalid = Self.invalidUID(a) {
                failures[part.path] = Failure(
                    sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID,
                    reason: FailureReason.cannotUnderstand,
                    text: "\(invalid)")
                continue
            }
            if let study, a.studyInstanceUID != study {
                failures[part.path] = Failure(
                    sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID, reason: FailureReason.doesNotMatch,
                    text: "the instance belongs to study \(a.studyInstanceUID ?? "(none)"), not \(study)")
                continue
            }
            candidates[part.path] = a
        }
        // Every refusal is audited: these here, the store's own in `ingest`.
        try node.auditRefused(
            failures.sorted { $0.key < $1.key }.map {
                "STOW-RS \(($0.key as NSString).lastPathComponent): \($0.value.text)"
            },
            actor: actor)
        var refused: [IngestReport.Failure] = []
        if !candidates.isEmpty {
            do {
                // A correction (other bytes under a held SOP Instance UID of the same study) only
                // from a caller with the operator's ingest permission.
                refused = try await node.ingest(
                    paths: candidates.keys.sorted(), actor: actor, mayCorrect: Caller.current?.may(.ingest) == true
                ).report.failures
            } catch let stopped as IngestInterrupted {
                // Audited by the ingest; the client learns what happened without the node's paths.
                let done = stopped.report.instancesIngested
                let kept =
                    done == 0 ? "nothing of this request was stored" : "\(done) instance(s) were stored before it"
                if let cause = stopped.cause as? StoreError, cause.isDiskFull {
                    throw DICOMwebError(status: 507, message: "the node's disk is full: \(kept)")
                }
                throw DICOMwebError(
                    status: 500, message: "the node could not store the instances: \(kept); see its log")
            }
        }
        for failure in refused {
            let a = candidates[failure.path]
            candidates[failure.path] = nil
            failures[failure.path] = Failure(
                sopClassUID: a?.sopClassUID, sopInstanceUID: a?.sopInstanceUID,
                reason: failure.identityConflict == true ? FailureReason.doesNotMatch : FailureReason.processingFailure,
                text: failure.reason.replacingOccurrences(of: folder + "/", with: ""))
        }

        let base = base(request)
        var response = DICOMJSONObject()
        var stored: [DICOMJSONObject] = []
        var failed: [DICOMJSONObject] = []
        var warnings: [String] = []
        var studies: Set<String> = []
        for part in parts {
            if let a = candidates[part.path] {
                var item = DICOMJSONObject()
                item.set(0x0008_1150, .ui, a.sopClassUID)
                item.set(0x0008_1155, .ui, a.sopInstanceUID)
                let studyUID = a.studyInstanceUID ?? ""
                item.set(
                    0x0008_1190, .ur,
                    base
                        + "/studies/\(studyUID)/series/\(a.seriesInstanceUID ?? "")/instances/\(a.sopInstanceUID ?? "")"
                )
                studies.insert(studyUID)
                stored.append(item)
            } else if let failure = failures[part.path] {
                var item = DICOMJSONObject()
                item.set(0x0008_1150, .ui, failure.sopClassUID)
                item.set(0x0008_1155, .ui, failure.sopInstanceUID)
                item.set(0x0008_1197, .us, integer: Int(failure.reason))
                failed.append(item)
                let name = (part.path as NSString).lastPathComponent
                warnings.append(Self.warning("\(name): \(failure.text)"))
                logger.notice("STOW-RS part refused", metadata: ["part": "\(name)", "reason": "\(failure.text)"])
            }
        }
        if let only = study ?? (studies.count == 1 ? studies.first : nil) {
            response.set(0x0008_1190, .ur, base + "/studies/" + only)
        }
        if !stored.isEmpty { response.set(0x0008_1199, items: stored) }
        if !failed.isEmpty { response.set(0x0008_1198, items: failed) }
        let status: HTTPResponse.Status = failed.isEmpty ? .ok : stored.isEmpty ? .conflict : .accepted
        logger.info("STOW-RS store", metadata: ["stored": "\(stored.count)", "failed": "\(failed.count)"])
        var answer = Response(
            status: status, body: .init(byteBuffer: ByteBuffer(bytes: DICOMJSONObject.encode(response))))
        answer.headers[.contentType] = "application/dicom+json"
        for warning in warnings.prefix(100) { answer.headers.append(HTTPField(name: .warning, value: warning)) }
        return answer
    }
}
