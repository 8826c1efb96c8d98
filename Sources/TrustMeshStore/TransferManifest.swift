import Foundation
public import TrustMeshCrypto
public import TrustMeshDICOM
package import TrustMeshModel

/// What a holder sends a requester about a study before any chunk moves: every instance, its
/// attributes (to catalogue it on arrival) and its ordered chunks with their plaintext and stored
/// (compressed, as sent) sizes. The requester fetches only the chunks it lacks.
public struct TransferManifest: Codable, Sendable, Equatable {
    public struct Chunk: Codable, Sendable, Equatable {
        public var hash: Digest256
        /// Plaintext bytes: the decompression ceiling.
        public var size: Int
        /// Bytes of the zstd frame as stored and sent.
        public var stored: Int

        package init(hash: Digest256, size: Int, stored: Int) {
            self.hash = hash
            self.size = size
            self.stored = stored
        }
    }

    public struct Instance: Codable, Sendable, Equatable {
        public var sopInstanceUID: String
        public var seriesUID: String
        public var size: Int
        public var transferSyntaxUID: String
        public var attributes: DICOMAttributes
        public var chunks: [Chunk]

        /// BLAKE2b-256 over the ordered chunk hashes: the identity of the instance's bytes, as the
        /// catalogue keeps it (``PreparedInstance/manifestHash``).
        package var manifestHash: Digest256 {
            var hasher = BLAKE2b256()
            for chunk in chunks { hasher.update(chunk.hash.rawBytes) }
            return hasher.finalize()
        }
    }

    public var studyUID: String
    /// The ten digits of the study's NHS number at the holder.
    public var nhsNumber: String?
    public var instances: [Instance]

    /// Bytes of the study's files.
    public var size: Int { instances.reduce(0) { $0 + $1.size } }

    /// Distinct chunks, each once, in first-use order.
    public var distinctChunks: [Chunk] {
        var seen: Set<Digest256> = []
        return instances.flatMap(\.chunks).filter { seen.insert($0.hash).inserted }
    }
}

// MARK: Wire form

/// A manifest travels compactly (it is on a fetch's critical path: encoded by the holder, decoded
/// by the requester, before any chunk moves): the distinct chunks once, as one base64 table of
/// 40-byte records (hash, plaintext size, stored size, sizes big-endian); the attributes an
/// instance shares with others (patient, study, series) once per distinct set; per instance only
/// what is its own, as plain fields, its chunks as indices into the table. Lossless: decoding
/// gives back the manifest that was encoded.
extension TransferManifest {
    private enum CodingKeys: String, CodingKey {
        case studyUID, nhsNumber, chunks, shared, instances
    }

    private struct WireInstance: Codable {
        var uid: String
        /// The series UID, when it is not the one in the shared set.
        var series: String?
        var size: Int
        var syntax: String
        /// Index of the shared attribute set.
        var shared: Int
        /// Instance Number and Number of Frames.
        var number: String?
        var frames: String?
        /// Only for an instance whose attributes name another SOP Instance UID or transfer syntax
        /// than its own fields (never one from the catalogue): its own attributes exactly.
        var own: DICOMAttributes?
        /// Indices into the chunk table, in order.
        var chunks: [Int]
    }

    private static let chunkRecordBytes = Digest256.byteCount + 8

    /// Splits attributes into what instances share and what is each one's own.
    private static func split(_ attributes: DICOMAttributes) -> (shared: DICOMAttributes, own: DICOMAttributes) {
        var shared = attributes
        var own = DICOMAttributes()
        swap(&shared.sopInstanceUID, &own.sopInstanceUID)
        swap(&shared.instanceNumber, &own.instanceNumber)
        swap(&shared.numberOfFrames, &own.numberOfFrames)
        swap(&shared.transferSyntaxUID, &own.transferSyntaxUID)
        return (shared, own)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(studyUID, forKey: .studyUID)
        try container.encodeIfPresent(nhsNumber, forKey: .nhsNumber)
        var table: [UInt8] = []
        var chunkIndex: [Digest256: Int] = [:]
        var sharedSets: [DICOMAttributes] = []
        var sharedIndex: [DICOMAttributes: Int] = [:]
        var wire: [WireInstance] = []
        wire.reserveCapacity(instances.count)
        for instance in instances {
            let (shared, own) = Self.split(instance.attributes)
            let setIndex: Int
            if let known = sharedIndex[shared] {
                setIndex = known
            } else {
                setIndex = sharedSets.count
                sharedIndex[shared] = setIndex
                sharedSets.append(shared)
            }
            let indices = instance.chunks.map { chunk in
                if let known = chunkIndex[chunk.hash] { return known }
                let index = chunkIndex.count
                chunkIndex[chunk.hash] = index
                table += chunk.hash.rawBytes
                for value in [chunk.size, chunk.stored] {
                    withUnsafeBytes(of: UInt32(value).bigEndian) { table += $0 }
                }
                return index
            }
            // Plain fields in the usual case: a nested attributes object per instance was most of
            // the encoding and decoding time.
            let usual =
                own.sopInstanceUID == instance.sopInstanceUID && own.transferSyntaxUID == instance.transferSyntaxUID
            wire.append(
                WireInstance(
                    uid: instance.sopInstanceUID,
                    series: shared.seriesInstanceUID == instance.seriesUID ? nil : instance.seriesUID,
                    size: instance.size, syntax: instance.transferSyntaxUID, shared: setIndex,
                    number: usual ? own.instanceNumber : nil, frames: usual ? own.numberOfFrames : nil,
                    own: usual ? nil : own, chunks: indices))
        }
        try container.encode(Data(table).base64EncodedString(), forKey: .chunks)
        try container.encode(sharedSets, forKey: .shared)
        try container.encode(wire, forKey: .instances)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        studyUID = try container.decode(String.self, forKey: .studyUID)
        nhsNumber = try container.decodeIfPresent(String.self, forKey: .nhsNumber)
        guard let table = Data(base64Encoded: try container.decode(String.self, forKey: .chunks)),
            table.count % Self.chunkRecordBytes == 0
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .chunks, in: container, debugDescription: "the chunk table is not whole 40-byte records")
        }
        let chunks: [Chunk] = try table.withUnsafeBytes { bytes in
            try stride(from: 0, to: bytes.count, by: Self.chunkRecordBytes).map { at in
                func number(_ offset: Int) -> Int {
                    Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: at + offset, as: UInt32.self)))
                }
                return Chunk(
                    hash: try Digest256(rawBytes: Array(bytes[at..<(at + Digest256.byteCount)])),
                    size: number(Digest256.byteCount), stored: number(Digest256.byteCount + 4))
            }
        }
        let sharedSets = try container.decode([DICOMAttributes].self, forKey: .shared)
        instances = try container.decode([WireInstance].self, forKey: .instances).map { wire in
            guard sharedSets.indices.contains(wire.shared), wire.chunks.allSatisfy(chunks.indices.contains) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .instances, in: container, debugDescription: "an instance refers to no shared set or chunk")
            }
            var attributes = sharedSets[wire.shared]
            let own = wire.own
            attributes.sopInstanceUID = own == nil ? wire.uid : own?.sopInstanceUID
            attributes.transferSyntaxUID = own == nil ? wire.syntax : own?.transferSyntaxUID
            attributes.instanceNumber = own == nil ? wire.number : own?.instanceNumber
            attributes.numberOfFrames = own == nil ? wire.frames : own?.numberOfFrames
            guard let series = wire.series ?? attributes.seriesInstanceUID else {
                throw DecodingError.dataCorruptedError(
                    forKey: .instances, in: container, debugDescription: "an instance has no series")
            }
            return Instance(
                sopInstanceUID: wire.uid, seriesUID: series, size: wire.size, transferSyntaxUID: wire.syntax,
                attributes: attributes, chunks: wire.chunks.map { chunks[$0] })
        }
    }
}

extension TransferManifest {
    /// The study's instances grouped by series, series and instances in manifest order: what
    /// DICOMweb's series search and the DICOM C-FIND and C-MOVE list of a held study.
    package var series: [[Instance]] {
        var order: [String] = []
        var groups: [String: [Instance]] = [:]
        for instance in instances {
            if groups[instance.seriesUID] == nil { order.append(instance.seriesUID) }
            groups[instance.seriesUID, default: []].append(instance)
        }
        return order.map { groups[$0]! }
    }
}

// MARK: Checking a fetched manifest

extension TransferManifest {
    /// What a fetched manifest may ask this node to allocate and store.
    package struct Limits: Sendable {
        package var instances = 100_000
        package var chunks = 1_000_000
        /// A chunk's plaintext: at most the chunker's maximum.
        package var chunkBytes = ChunkingParameters.standard.maximum
        /// A chunk's zstd frame: at most zstd's bound for the largest chunk
        /// (`ZSTD_COMPRESSBOUND`: size + size/256, and a little for the frame).
        package var storedChunkBytes =
            ChunkingParameters.standard.maximum + (ChunkingParameters.standard.maximum >> 8)
            + 512
        package var studyBytes = 1 << 40

        package init() {}
    }

    /// Checks a fetched manifest against the holder's signed index record and this node's limits,
    /// before anything is allocated or fetched for it: its study and patient are the record's; its
    /// instance count, size and content (the record's manifest hash) are what the record announced;
    /// every UID is valid and each instance's attributes name its own study, series and SOP
    /// Instance UID; every chunk's sizes are within the chunker's and zstd's bounds and add up to
    /// its instance's size.
    /// - Throws: ``StoreError`` naming the first thing that is wrong.
    package func check(announced record: IndexRecord, limits: Limits = Limits()) throws(StoreError) {
        func refuse(_ reason: String) -> StoreError { .manifest("the manifest \(reason)") }
        guard studyUID == record.studyUID, nhsNumber == record.nhsNumber.digits else {
            throw refuse("is for another study or patient than the holder's index record")
        }
        if let problem = DICOMUID.problem(studyUID) { throw refuse("has an invalid StudyInstanceUID: \(problem)") }
        guard !instances.isEmpty, instances.count <= limits.instances else {
            throw refuse("lists \(instances.count) instances (at most \(limits.instances), at least 1)")
        }
        guard instances.count == record.instanceCount else {
            throw refuse(
                "lists \(instances.count) instances where the holder's index record announces \(record.instanceCount)")
        }
        var chunkCount = 0
        var total = 0
        var seen: Set<String> = []
        for (index, instance) in instances.enumerated() {
            let a = instance.attributes
            for (keyword, value) in [
                ("SOPInstanceUID", instance.sopInstanceUID), ("SeriesInstanceUID", instance.seriesUID),
                ("TransferSyntaxUID", instance.transferSyntaxUID),
            ] {
                if let problem = DICOMUID.problem(value) {
                    throw refuse("has instance \(index + 1) with an invalid \(keyword): \(problem)")
                }
            }
            if let sopClass = a.sopClassUID, let problem = DICOMUID.problem(sopClass) {
                throw refuse("has instance \(index + 1) with an invalid SOPClassUID: \(problem)")
            }
            guard seen.insert(instance.sopInstanceUID).inserted else {
                throw refuse("lists SOPInstanceUID \(instance.sopInstanceUID) twice")
            }
            guard a.studyInstanceUID == studyUID, a.seriesInstanceUID == instance.seriesUID,
                a.sopInstanceUID == instance.sopInstanceUID
            else { throw refuse("has instance \(instance.sopInstanceUID) whose attributes name other UIDs") }
            chunkCount += instance.chunks.count
            guard chunkCount <= limits.chunks else { throw refuse("lists more than \(limits.chunks) chunks") }
            var size = 0
            for chunk in instance.chunks {
                guard (1...limits.chunkBytes).contains(chunk.size), (1...limits.storedChunkBytes).contains(chunk.stored)
                else {
                    throw refuse(
                        "has a chunk of \(chunk.size) bytes (\(chunk.stored) stored); at most \(limits.chunkBytes)")
                }
                size += chunk.size
            }
            guard size == instance.size, size > 0 else {
                throw refuse("has instance \(instance.sopInstanceUID) whose chunks do not add up to its size")
            }
            total += size
            guard total <= limits.studyBytes else { throw refuse("is larger than \(limits.studyBytes) bytes") }
        }
        guard total == record.sizeBytes else {
            throw refuse("holds \(total) bytes where the holder's index record announces \(record.sizeBytes)")
        }
        if let announced = record.manifestHash, contentHash != announced {
            throw refuse("does not match the content the holder's index record announces (its manifest hash)")
        }
    }

    /// The identity of the study's content as ``Catalogue/studyManifestHash(uid:)`` computes it from
    /// the catalogue: BLAKE2b-256 over each instance's SOP Instance UID and manifest hash, in SOP
    /// Instance UID order.
    package var contentHash: Digest256 {
        var hasher = BLAKE2b256()
        for instance in instances.sorted(by: {
            Array($0.sopInstanceUID.utf8).lexicographicallyPrecedes($1.sopInstanceUID.utf8)
        }) {
            hasher.update(Array(instance.sopInstanceUID.utf8) + [0])
            hasher.update(instance.manifestHash.rawBytes)
        }
        return hasher.finalize()
    }
}
