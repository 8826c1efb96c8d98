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
            var shared = DICOMAttributes()
            shared.patientID = study["patientID"]
            shared.patientName = study["patientName"]
            shared.patientBirthDate = study["birthDate"]
            shared.patientSex = study["sex"]
            shared.studyInstanceUID = studyUID
            shared.studyDate = study["studyDate"]
            shared.studyTime = study["studyTime"]
            shared.accessionNumber = study["accession"]
            shared.studyDescription = study["description"]
            shared.referringPhysicianName = study["referringPhysician"]
            shared.institutionName = study["institution"]
            // Columns read by position: a fetch waits for this, and by name costs a lookup per
            // column per row (one row per chunk of every instance).
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT i.sopInstanceUID, i.seriesUID, i.size, i.transferSyntaxUID, i.sopClassUID,
                        i.instanceNumber, i.numberOfFrames, se.modality, se.seriesNumber, se.description,
                        se.bodyPart, m.chunkHash, c.size, c.storedSize
                    FROM instance i
                    JOIN series se ON se.seriesUID = i.seriesUID
                    JOIN manifest m ON m.sopInstanceUID = i.sopInstanceUID
                    JOIN chunk c ON c.hash = m.chunkHash
                    WHERE se.studyUID = ?
                    ORDER BY se.seriesUID, CAST(i.instanceNumber AS INTEGER), i.sopInstanceUID, m.position
                    """,
                arguments: [studyUID])
            var instances: [TransferManifest.Instance] = []
            while let row = try rows.next() {
                let sop: String = row[0]
                let hash: Data = row[11]
                let chunk = TransferManifest.Chunk(
                    hash: try Digest256(rawBytes: [UInt8](hash)), size: row[12], stored: row[13])
                if instances.last?.sopInstanceUID == sop {
                    instances[instances.count - 1].chunks.append(chunk)
                    continue
                }
                var a = shared
                a.seriesInstanceUID = row[1]
                a.transferSyntaxUID = row[3]
                a.sopClassUID = row[4]
                a.instanceNumber = row[5]
                a.numberOfFrames = row[6]
                a.modality = row[7]
                a.seriesNumber = row[8]
                a.seriesDescription = row[9]
                a.bodyPartExamined = row[10]
                a.sopInstanceUID = sop
                instances.append(
                    TransferManifest.Instance(
                        sopInstanceUID: sop, seriesUID: row[1], size: row[2], transferSyntaxUID: row[3] ?? "",
                        attributes: a, chunks: [chunk]))
            }
            return TransferManifest(studyUID: studyUID, nhsNumber: study["nhsNumber"], instances: instances)
        }
    }

    /// The instances held in a study, by SOP Instance UID: what a fetch of it need not check again.
    package func heldInstances(studyUID: String) throws -> [String: HeldInstance] {
        try pool.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT i.sopInstanceUID, i.seriesUID, i.manifestHash, st.nhsNumber
                    FROM study st
                    JOIN series se ON se.studyUID = st.studyUID
                    JOIN instance i ON i.seriesUID = se.seriesUID
                    WHERE st.studyUID = ?
                    """,
                arguments: [studyUID])
            var held: [String: HeldInstance] = [:]
            while let row = try rows.next() {
                let hash: Data = row[2]
                held[row[0]] = HeldInstance(
                    seriesUID: row[1], manifestHash: try Digest256(rawBytes: [UInt8](hash)), nhsNumber: row[3])
            }
            return held
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

/// An instance as held: its series, the identity of its bytes, and its study's NHS number.
package struct HeldInstance: Sendable {
    package var seriesUID: String
    /// BLAKE2b-256 over its ordered chunk hashes (``PreparedInstance/manifestHash``).
    package var manifestHash: Digest256
    package var nhsNumber: String?
}

/// Where a chunk's stored bytes are and how many there are.
package struct ChunkPlace: Sendable {
    package var hash: Digest256
    /// Bytes of its zstd frame.
    package var stored: Int
    /// Its place in a pack, or nil for a file of its own.
    package var pack: PackLocation?
}
