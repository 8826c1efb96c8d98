import Foundation
import TrustMeshCompression
package import TrustMeshCrypto
import TrustMeshDICOM
package import TrustMeshModel

extension StudyStore {
    /// A held study's manifest for a transfer, or nil.
    package func transferManifest(studyUID: String) throws -> TransferManifest? {
        try catalogue.transferManifest(studyUID: studyUID)
    }

    /// Where chunks' stored bytes are (one catalogue read for a batch).
    package func places(of hashes: [Digest256]) throws -> [ChunkPlace] { try catalogue.places(hashes) }

    /// The first of `places` whose bytes are not on disk as the catalogue says (a damaged store), or
    /// nil when all are.
    package func firstMissing(_ places: [ChunkPlace]) -> ChunkPlace? {
        places.first { !chunks.isPresent($0.hash, stored: $0.stored, at: $0.pack) }
    }

    /// Reads a chunk's stored bytes into `destination` (at least `place.stored` bytes), so a server
    /// can seal them in place.
    package func readStoredChunk(_ place: ChunkPlace, into destination: UnsafeMutableRawBufferPointer) throws {
        precondition(destination.count >= place.stored, "destination too small for the chunk")
        let target = UnsafeMutableRawBufferPointer(rebasing: destination[..<place.stored])
        if let pack = place.pack {
            try chunks.read(place.hash, at: pack, into: target)
        } else {
            try chunks.read(place.hash, into: target)
        }
    }

    /// The stored (compressed) bytes of a chunk, as sent to peers, from its pack or its own file.
    package func storedChunk(_ hash: Digest256) throws -> [UInt8] {
        if let location = try catalogue.packLocation(hash) { return try chunks.read(hash, at: location) }
        return try chunks.read(hash)
    }

    /// Of a manifest's distinct chunks, those this node does not hold.
    package func missingChunks(of manifest: TransferManifest) throws -> [TransferManifest.Chunk] {
        let distinct = manifest.distinctChunks
        let held = try catalogue.knownChunks(Set(distinct.map(\.hash)))
        return distinct.filter { !held.contains($0.hash) }
    }

    /// Stores received chunks durably: `pack` (their stored bytes back to back, each at its
    /// offset) becomes one pack file, flushed, then catalogue rows point into it. The caller has
    /// verified each chunk against its hash. They are listed at once, so a fetch interrupted after
    /// this resumes without them; they belong to no study until ``commitTransfer(_:nhsNumber:source:)``.
    package func storeVerifiedChunks(
        _ pack: UnsafeRawBufferPointer, chunks received: [(chunk: TransferManifest.Chunk, offset: Int)]
    ) throws {
        guard !received.isEmpty else { return }
        let name = try chunks.writePack(pack)
        try catalogue.insertChunks(
            received.map { item in
                (
                    item.chunk.hash, ChunkSize(plain: item.chunk.size, stored: item.chunk.stored),
                    PackLocation(pack: name, offset: item.offset, length: item.chunk.stored)
                )
            })
    }

    /// ``storeVerifiedChunks(_:chunks:)`` for chunks held as separate arrays.
    package func storeVerifiedChunks(_ received: [(chunk: TransferManifest.Chunk, stored: [UInt8])]) throws {
        var pack: [UInt8] = []
        var placed: [(chunk: TransferManifest.Chunk, offset: Int)] = []
        for (chunk, stored) in received {
            precondition(stored.count == chunk.stored, "a chunk's stored bytes must match its manifest size")
            placed.append((chunk, pack.count))
            pack += stored
        }
        try pack.withUnsafeBytes { try storeVerifiedChunks($0, chunks: placed) }
    }

    /// The header check for a fetch of `manifest` (see ``TransferHeaderCheck``): instances this
    /// node already holds with the same bytes, series, study and patient are not read again.
    /// - Parameter receiving: The chunks the fetch will receive, read as they arrive; nil for none.
    package func headerCheck(
        for manifest: TransferManifest, nhsNumber: NHSNumber, receiving: [TransferManifest.Chunk]?
    ) throws -> TransferHeaderCheck {
        let held = try catalogue.heldInstances(studyUID: manifest.studyUID)
        let same = manifest.instances.filter { instance in
            guard let copy = held[instance.sopInstanceUID] else { return false }
            return copy.nhsNumber == nhsNumber.digits && copy.seriesUID == instance.seriesUID
                && copy.manifestHash == instance.manifestHash
        }
        return TransferHeaderCheck(
            manifest: manifest, nhsNumber: nhsNumber, held: Set(same.map(\.sopInstanceUID)),
            receiving: receiving.map { Set($0.map(\.hash)) })
    }

    /// Makes a fetched study visible: ``commitTransfer(_:source:)`` with every instance not held
    /// read back from its stored chunks.
    package func commitTransfer(_ manifest: TransferManifest, nhsNumber: NHSNumber, source: String) throws {
        try commitTransfer(try headerCheck(for: manifest, nhsNumber: nhsNumber, receiving: nil), source: source)
    }

    /// Makes a fetched study visible, all instances in one transaction. Every chunk must be held,
    /// and every instance's own header must name the manifest's study, series, SOP Instance UID and
    /// the patient's NHS number: a holder cannot file images under another identity than the one
    /// they carry. `headers` has read the headers it could as the chunks arrived; the others, but
    /// for instances held here already with the same bytes and identity, are read here from their
    /// verified chunks (pixel data is skipped, not read).
    /// - Throws: ``StoreError`` if a chunk is missing, an instance's header contradicts the
    ///   manifest, or an instance contradicts what is held (another patient in the study, a series or
    ///   instance held in another study, other bytes under a held SOP Instance UID); nothing is
    ///   committed then.
    package func commitTransfer(_ headers: TransferHeaderCheck, source: String) throws {
        let manifest = headers.manifest
        let missing = try missingChunks(of: manifest)
        if let first = missing.first { throw StoreError.missingChunk(hash: first.hash.hex) }
        if let contradiction = headers.contradiction { throw contradiction }
        let decompressor = ZstdDecompressor()
        for instance in headers.unread {
            try readBackHeader(
                instance, study: manifest.studyUID, nhsNumber: headers.nhsNumber, decompressor: decompressor)
        }
        let prepared = manifest.instances.map { instance in
            PreparedInstance(
                path: source + "/" + instance.sopInstanceUID, attributes: instance.attributes,
                studyUID: manifest.studyUID, seriesUID: instance.seriesUID, sopInstanceUID: instance.sopInstanceUID,
                transferSyntaxUID: instance.transferSyntaxUID, nhsNumber: headers.nhsNumber, size: instance.size,
                manifest: instance.chunks.map(\.hash))
        }
        let outcomes = try catalogue.commitAll(prepared)  // checks identity in the committing transaction
        if let refused = outcomes.compactMap({ outcome -> StoreError? in
            if case .refused(let box) = outcome { return box.error }
            return nil
        }).first {
            throw refused
        }
    }
}

extension StudyStore {
    /// Reads a fetched instance's header from its stored chunks (pixel data is skipped, not read)
    /// and checks it names what the manifest says.
    private func readBackHeader(
        _ instance: TransferManifest.Instance, study: String, nhsNumber: NHSNumber, decompressor: ZstdDecompressor
    ) throws(StoreError) {
        var source = ChunkedInstanceSource(store: self, chunks: instance.chunks, decompressor: decompressor)
        let info: DICOMFileInfo
        do {
            info = try DICOMReader.read(source: &source)
        } catch {
            if let failure = source.failure { throw failure }
            throw instance.unreadable(error)
        }
        try instance.check(info, study: study, nhsNumber: nhsNumber)
    }
}
