public import TrustMeshCrypto
public import TrustMeshDICOM

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
    }

    public struct Instance: Codable, Sendable, Equatable {
        public var sopInstanceUID: String
        public var seriesUID: String
        public var size: Int
        public var transferSyntaxUID: String
        public var attributes: DICOMAttributes
        public var chunks: [Chunk]
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
