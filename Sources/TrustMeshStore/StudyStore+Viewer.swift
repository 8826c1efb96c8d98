import Foundation
import GRDB
import TrustMeshCompression
import TrustMeshCrypto
import TrustMeshDICOM

/// A series of a held study, for the study viewer.
package struct ViewerSeries: Sendable, Equatable {
    package struct Instance: Sendable, Equatable {
        package var sopInstanceUID: String
        package var instanceNumber: String?
        package var transferSyntaxUID: String?
        package var size: Int
    }
    package var seriesUID: String
    package var seriesNumber: String?
    package var modality: String?
    package var description: String?
    package var bodyPart: String?
    /// In instance-number order.
    package var instances: [Instance]
}

/// A thumbnail, or why there is none.
package enum Thumbnail: Sendable, Equatable {
    case png([UInt8])
    case unavailable(String)
}

extension StudyStore {
    /// A held study's series and instances, in series-number then instance-number order; empty if the
    /// study is not held.
    package func viewerSeries(studyUID: String) throws -> [ViewerSeries] {
        try catalogue.pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT se.seriesUID, se.seriesNumber, se.modality, se.description, se.bodyPart,
                        i.sopInstanceUID, i.instanceNumber, i.transferSyntaxUID, i.size
                    FROM series se JOIN instance i ON i.seriesUID = se.seriesUID
                    WHERE se.studyUID = ?
                    ORDER BY CAST(se.seriesNumber AS INTEGER), se.seriesUID, CAST(i.instanceNumber AS INTEGER),
                        i.sopInstanceUID
                    """,
                arguments: [studyUID])
            var result: [ViewerSeries] = []
            for row in rows {
                let uid: String = row["seriesUID"]
                let instance = ViewerSeries.Instance(
                    sopInstanceUID: row["sopInstanceUID"], instanceNumber: row["instanceNumber"],
                    transferSyntaxUID: row["transferSyntaxUID"], size: row["size"])
                if result.last?.seriesUID == uid {
                    result[result.count - 1].instances.append(instance)
                } else {
                    result.append(
                        ViewerSeries(
                            seriesUID: uid, seriesNumber: row["seriesNumber"], modality: row["modality"],
                            description: row["description"], bodyPart: row["bodyPart"], instances: [instance]))
                }
            }
            return result
        }
    }

    /// A PNG thumbnail of an instance's first frame, rendered from its stored chunks.
    ///
    /// The instance is never assembled in memory: its header is parsed from the chunks read one at a
    /// time (chunks wholly inside skipped values are not even read), then only the first frame's bytes
    /// are read. Memory is one chunk (at most 1 MiB) plus one frame (at most
    /// ``ThumbnailRenderer/maximumFrameBytes``).
    /// - Returns: ``Thumbnail/unavailable(_:)`` for compressed, colour or unusual images.
    /// - Throws: ``StoreError`` for an unknown instance or a corrupt chunk.
    package func thumbnail(sopInstanceUID: String, maxSize: Int = 192) throws -> Thumbnail {
        guard let instance = try storedInstance(sopInstanceUID: sopInstanceUID) else {
            throw StoreError.unknownStudy(sopInstanceUID)
        }
        var source = ChunkedInstanceSource(store: self, chunks: instance.chunks)
        let info: DICOMFileInfo
        do {
            info = try DICOMReader.read(source: &source)
        } catch {
            return .unavailable("the stored file could not be read (\(error.description))")
        }
        if let failure = source.failure { throw failure }
        let plan: ThumbnailRenderer.Plan
        switch ThumbnailRenderer.plan(info) {
        case .success(let value): plan = value
        case .failure(let reason): return .unavailable(reason.reason)
        }
        var pixels = ChunkedInstanceSource(store: self, chunks: instance.chunks)
        do {
            guard try pixels.skip(info.pixelDataOffset! + plan.elementHeaderLength) > 0 else {
                return .unavailable("the pixel data is missing")
            }
            var frame = [UInt8](repeating: 0, count: plan.frameBytes)
            var filled = 0
            while filled < frame.count {
                let got = try frame.withUnsafeMutableBytes { buffer in
                    try pixels.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                }
                if got == 0 { return .unavailable("the pixel data ends inside the first frame") }
                filled += got
            }
            return .png(try ThumbnailRenderer.render(plan, frame: frame, maxSize: maxSize))
        } catch {
            if let failure = pixels.failure { throw failure }
            return .unavailable("the image could not be rendered (\(error))")
        }
    }

    /// One instance with its chunks, if held.
    /// The study an instance held here belongs to, if it is held.
    package func studyUID(ofInstance sopInstanceUID: String) throws -> String? {
        try catalogue.pool.read { db in
            try String.fetchOne(
                db,
                sql:
                    "SELECT s.studyUID FROM instance i JOIN series s ON s.seriesUID = i.seriesUID WHERE i.sopInstanceUID = ?",
                arguments: [sopInstanceUID])
        }
    }

    package func storedInstance(sopInstanceUID: String) throws -> StoredInstance? {
        try catalogue.pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT i.seriesUID, i.size, m.chunkHash, c.size AS chunkSize FROM instance i
                    JOIN manifest m ON m.sopInstanceUID = i.sopInstanceUID
                    JOIN chunk c ON c.hash = m.chunkHash
                    WHERE i.sopInstanceUID = ? ORDER BY m.position
                    """,
                arguments: [sopInstanceUID])
            guard let first = rows.first else { return nil }
            return StoredInstance(
                sopInstanceUID: sopInstanceUID, seriesUID: first["seriesUID"], size: first["size"],
                chunks: try rows.map { row in
                    let hash: Data = row["chunkHash"]
                    return StoredInstance.Chunk(hash: try Digest256(rawBytes: [UInt8](hash)), size: row["chunkSize"])
                })
        }
    }
}
