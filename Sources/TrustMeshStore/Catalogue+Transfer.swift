import Foundation
import GRDB
package import TrustMeshCrypto
import TrustMeshDICOM

extension Catalogue {
    /// A held study's transfer manifest, or nil if the study is not held.
    package func transferManifest(studyUID: String) throws -> TransferManifest? {
        try pool.read { db in
            guard
                let study = try Row.fetchOne(db, sql: "SELECT * FROM study WHERE studyUID = ?", arguments: [studyUID])
            else { return nil }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT i.*, se.modality, se.seriesNumber, se.description AS seriesDescription, se.bodyPart,
                        m.chunkHash, c.size AS chunkSize, c.storedSize
                    FROM instance i
                    JOIN series se ON se.seriesUID = i.seriesUID
                    JOIN manifest m ON m.sopInstanceUID = i.sopInstanceUID
                    JOIN chunk c ON c.hash = m.chunkHash
                    WHERE se.studyUID = ?
                    ORDER BY se.seriesUID, CAST(i.instanceNumber AS INTEGER), i.sopInstanceUID, m.position
                    """,
                arguments: [studyUID])
            var instances: [TransferManifest.Instance] = []
            for row in rows {
                let sop: String = row["sopInstanceUID"]
                let hash: Data = row["chunkHash"]
                let chunk = TransferManifest.Chunk(
                    hash: try Digest256(rawBytes: [UInt8](hash)), size: row["chunkSize"], stored: row["storedSize"])
                if instances.last?.sopInstanceUID == sop {
                    instances[instances.count - 1].chunks.append(chunk)
                    continue
                }
                var a = DICOMAttributes()
                a.patientID = study["patientID"]
                a.patientName = study["patientName"]
                a.patientBirthDate = study["birthDate"]
                a.patientSex = study["sex"]
                a.studyInstanceUID = studyUID
                a.studyDate = study["studyDate"]
                a.studyTime = study["studyTime"]
                a.accessionNumber = study["accession"]
                a.studyDescription = study["description"]
                a.referringPhysicianName = study["referringPhysician"]
                a.institutionName = study["institution"]
                a.modality = row["modality"]
                a.seriesInstanceUID = row["seriesUID"]
                a.seriesNumber = row["seriesNumber"]
                a.seriesDescription = row["seriesDescription"]
                a.bodyPartExamined = row["bodyPart"]
                a.sopClassUID = row["sopClassUID"]
                a.sopInstanceUID = sop
                a.instanceNumber = row["instanceNumber"]
                a.numberOfFrames = row["numberOfFrames"]
                a.transferSyntaxUID = row["transferSyntaxUID"]
                instances.append(
                    TransferManifest.Instance(
                        sopInstanceUID: sop, seriesUID: row["seriesUID"], size: row["size"],
                        transferSyntaxUID: row["transferSyntaxUID"] ?? "", attributes: a, chunks: [chunk]))
            }
            return TransferManifest(studyUID: studyUID, nhsNumber: study["nhsNumber"], instances: instances)
        }
    }

    /// Records verified chunks whose pack is durable, before any instance references them, so an
    /// interrupted fetch resumes from them. Chunks already listed are left as they are.
    package func insertChunks(_ chunks: [(hash: Digest256, size: ChunkSize, location: PackLocation)]) throws {
        let now = ISO8601DateFormatter().string(from: Date())
        try pool.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO chunk (hash, size, storedSize, pack, packOffset, stagedAt)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
            for chunk in chunks {
                try statement.execute(arguments: [
                    Data(chunk.hash.rawBytes), chunk.size.plain, chunk.size.stored, chunk.location.pack,
                    chunk.location.offset, now,
                ])
            }
        }
    }

    /// Where a chunk's bytes are if it lives in a pack; nil for a chunk in a file of its own.
    /// - Throws: ``StoreError/missingChunk(hash:)`` if the catalogue does not list the chunk.
    package func packLocation(_ hash: Digest256) throws -> PackLocation? {
        let row = try pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT storedSize, pack, packOffset FROM chunk WHERE hash = ?",
                arguments: [Data(hash.rawBytes)])
        }
        guard let row else { throw StoreError.missingChunk(hash: hash.hex) }
        guard let pack: String = row["pack"], let offset: Int = row["packOffset"] else { return nil }
        return PackLocation(pack: pack, offset: offset, length: row["storedSize"])
    }

    /// Where each chunk's stored bytes are, in one read: for each hash, its stored size and pack
    /// location (nil for a chunk in a file of its own).
    /// - Throws: ``StoreError/missingChunk(hash:)`` for a hash the catalogue does not list.
    package func places(_ hashes: [Digest256]) throws -> [ChunkPlace] {
        try pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT storedSize, pack, packOffset FROM chunk WHERE hash = ?")
            return try hashes.map { hash in
                guard let row = try Row.fetchOne(statement, arguments: [Data(hash.rawBytes)]) else {
                    throw StoreError.missingChunk(hash: hash.hex)
                }
                let stored: Int = row[0]
                var location: PackLocation?
                if let pack: String = row[1], let offset: Int = row[2] {
                    location = PackLocation(pack: pack, offset: offset, length: stored)
                }
                return ChunkPlace(hash: hash, stored: stored, pack: location)
            }
        }
    }
}

/// Where a chunk's stored bytes are and how many there are.
package struct ChunkPlace: Sendable {
    package var hash: Digest256
    /// Bytes of its zstd frame.
    package var stored: Int
    /// Its place in a pack, or nil for a file of its own.
    package var pack: PackLocation?
}
