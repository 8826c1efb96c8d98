import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM
import TrustMeshGossip
import TrustMeshModel
import TrustMeshNodeCore
import TrustMeshStore

// WADO-RS (PS3.18 §10.4): instances byte for byte, streamed, and their metadata.
extension DICOMwebRoutes {
    // MARK: WADO-RS

    func instances(_ target: Target, in manifest: TransferManifest) throws(DICOMwebError)
        -> [TransferManifest.Instance]
    {
        let chosen = manifest.instances.filter { instance in
            (target.series == nil || instance.seriesUID == target.series)
                && (target.instance == nil || instance.sopInstanceUID == target.instance)
        }
        if chosen.isEmpty {
            if let instance = target.instance {
                throw .notFound("no instance \(instance) in series \(target.series ?? "?") of study \(target.study)")
            }
            throw .notFound("no series \(target.series ?? "?") in study \(target.study)")
        }
        return chosen
    }

    func retrieve(_ request: Request, _ target: Target) throws -> Response {
        let syntaxes = try acceptedTransferSyntaxes(request)
        let (summary, manifest) = try heldStudy(target.study)
        let chosen = try instances(target, in: manifest)
        if let syntaxes, let other = chosen.first(where: { !syntaxes.contains($0.transferSyntaxUID) }) {
            throw DICOMwebError.notAcceptable(
                "instance \(other.sopInstanceUID) is held in transfer syntax \(other.transferSyntaxUID) and the node "
                    + "does not transcode; ask for transfer-syntax=* or that syntax")
        }
        let bytes = chosen.reduce(0) { $0 + $1.size }
        // Audited before a byte leaves: a retrieve that cannot be logged does not happen.
        try node.auditRetrieve(
            summary, chosen: chosen, series: target.series, instance: target.instance, actor: actor(request))

        let boundary = Random.bytes(16).map { String(format: "%02x", $0) }.joined()
        let heads = chosen.enumerated().map { index, instance in
            Array(
                ((index == 0 ? "" : "\r\n") + "--\(boundary)\r\nContent-Type: application/dicom; transfer-syntax="
                    + "\(instance.transferSyntaxUID)\r\nContent-Length: \(instance.size)\r\n\r\n").utf8)
        }
        let tail = Array("\r\n--\(boundary)--\r\n".utf8)
        let length = bytes + heads.reduce(0) { $0 + $1.count } + tail.count
        let store = node.store
        let logger = logger
        let body = ResponseBody(contentLength: length) { writer in
            // One chunk in memory at a time (at most 1 MiB); the writer waits while the client is slow.
            let decompressor = ZstdDecompressor()
            do {
                for (head, instance) in zip(heads, chosen) {
                    try await writer.write(ByteBuffer(bytes: head))
                    for chunk in instance.chunks {
                        let plain = try store.readChunk(chunk.hash, size: chunk.size, decompressor: decompressor)
                        try await writer.write(ByteBuffer(bytes: plain))
                    }
                }
                try await writer.write(ByteBuffer(bytes: tail))
                try await writer.finish(nil)
            } catch {
                logger.error("WADO-RS retrieve stopped", metadata: ["error": "\(error)"])
                throw error
            }
        }
        var response = Response(status: .ok, body: body)
        response.headers[.contentType] = "multipart/related; type=\"application/dicom\"; boundary=\(boundary)"
        logger.info("WADO-RS retrieve", metadata: ["instances": "\(chosen.count)", "bytes": "\(bytes)"])
        return response
    }

    func metadata(_ request: Request, _ target: Target) throws -> Response {
        try requireJSON(request)
        let (summary, manifest) = try heldStudy(target.study)
        let chosen = try instances(target, in: manifest)
        try node.auditRetrieve(
            summary, chosen: chosen, content: .metadata, series: target.series, instance: target.instance,
            actor: actor(request))
        let base = base(request)
        let decompressor = ZstdDecompressor()
        let objects = chosen.map { instance in
            var object: DICOMJSONObject
            var source = ChunkedInstanceSource(store: node.store, chunks: instance.chunks, decompressor: decompressor)
            do {
                // The whole header, Pixel Data left out (its chunks are skipped unread).
                let dump = try DataSetDump.read(source: &source)
                object = DICOMJSONObject(dump.elements, dump: dump)
                if let syntax = dump.meta.first(where: { $0.tag == .transferSyntaxUID }) {
                    object.set(0x0002_0010, .ui, dump.strings(syntax))
                }
            } catch {
                // Files the dump does not handle (no File Meta Information, deflated): the indexed
                // attributes and image attributes the reader keeps.
                object = Self.instanceObject(instance, manifest: manifest)
                var source = ChunkedInstanceSource(
                    store: node.store, chunks: instance.chunks, decompressor: decompressor)
                do {
                    Self.add(try DICOMReader.read(source: &source), to: &object)
                } catch {
                    logger.warning(
                        "metadata: header unreadable, catalogue attributes only",
                        metadata: ["sop": "\(instance.sopInstanceUID)", "error": "\(error)"])
                }
            }
            object.set(0x0008_0005, .cs, "ISO_IR 192")  // strings were decoded: the JSON is Unicode
            object.set(
                0x0008_1190, .ur,
                base + "/studies/\(target.study)/series/\(instance.seriesUID)/instances/\(instance.sopInstanceUID)")
            return object
        }
        return Self.dicomJSON(objects)
    }

    /// What the catalogue holds about an instance, as DICOM JSON.
    static func instanceObject(_ instance: TransferManifest.Instance, manifest: TransferManifest) -> DICOMJSONObject {
        var object = DICOMJSONObject()
        add(instance.attributes, to: &object)
        object.set(0x0020_000D, .ui, manifest.studyUID)
        object.set(0x0020_000E, .ui, instance.seriesUID)
        object.set(0x0008_0018, .ui, instance.sopInstanceUID)
        object.set(0x0002_0010, .ui, instance.transferSyntaxUID)
        return object
    }

    static func add(_ a: DICOMAttributes, to object: inout DICOMJSONObject) {
        object.set(0x0008_0005, .cs, "ISO_IR 192")  // JSON is UTF-8 whatever the file's character set
        object.set(0x0010_0020, .lo, a.patientID)
        object.set(0x0010_0010, .pn, a.patientName)
        object.set(0x0010_0030, .da, a.patientBirthDate)
        object.set(0x0010_0040, .cs, a.patientSex)
        object.set(0x0020_000D, .ui, a.studyInstanceUID)
        object.set(0x0008_0020, .da, a.studyDate)
        object.set(0x0008_0030, .tm, a.studyTime)
        object.set(0x0008_0050, .sh, a.accessionNumber)
        object.set(0x0008_1030, .lo, a.studyDescription)
        object.set(0x0008_0090, .pn, a.referringPhysicianName)
        object.set(0x0008_0080, .lo, a.institutionName)
        object.set(0x0008_0060, .cs, a.modality)
        object.set(0x0020_000E, .ui, a.seriesInstanceUID)
        object.set(0x0020_0011, .is, a.seriesNumber)
        object.set(0x0008_103E, .lo, a.seriesDescription)
        object.set(0x0018_0015, .cs, a.bodyPartExamined)
        object.set(0x0008_0016, .ui, a.sopClassUID)
        object.set(0x0008_0018, .ui, a.sopInstanceUID)
        object.set(0x0020_0013, .is, a.instanceNumber)
        object.set(0x0028_0008, .is, a.numberOfFrames)
        object.set(0x0002_0010, .ui, a.transferSyntaxUID)
    }

    /// The image attributes the reader keeps, from the instance's own header.
    static func add(_ info: DICOMFileInfo, to object: inout DICOMJSONObject) {
        add(info.attributes, to: &object)
        object.set(0x0008_0005, .cs, "ISO_IR 192")
        func number(_ tag: UInt32, _ value: Int?) { if let value { object.set(tag, .us, integer: value) } }
        func decimal(_ tag: UInt32, _ value: Double?) { if let value { object.set(tag, .ds, ["\(value)"]) } }
        number(0x0028_0002, info.samplesPerPixel)
        object.set(0x0028_0004, .cs, info.photometricInterpretation)
        number(0x0028_0010, info.rows)
        number(0x0028_0011, info.columns)
        number(0x0028_0100, info.bitsAllocated)
        number(0x0028_0101, info.bitsStored)
        number(0x0028_0103, info.pixelRepresentation)
        decimal(0x0028_1050, info.windowCenter)
        decimal(0x0028_1051, info.windowWidth)
        decimal(0x0028_1052, info.rescaleIntercept)
        decimal(0x0028_1053, info.rescaleSlope)
    }
}
