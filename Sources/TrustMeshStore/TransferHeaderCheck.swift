import Glibc
import Synchronization
package import TrustMeshCrypto
import TrustMeshDICOM
package import TrustMeshModel

/// The check that every instance of a fetched study is what its manifest says, made while the
/// chunks arrive: each instance's own header must name the manifest's SOP Instance, Series and Study
/// UID and the patient's NHS number (docs/ARCHITECTURE.md, "Identity of data").
///
/// The receiver hands each chunk's plaintext here once its hash is verified
/// (``received(_:plaintext:)``). An instance is read from its first chunk (the store cuts chunks
/// where Pixel Data begins, so that is its header) and the first bytes of its second (the Pixel
/// Data element's own header); pixel data is skipped by its length, unread. That is
/// ``DICOMReader``'s whole-file read, over the same bytes: when the read needs bytes not in hand
/// (a header longer than a chunk, encapsulated fragments, elements after Pixel Data) the instance is
/// left for ``StudyStore/commitTransfer(_:source:)`` to read back from its stored chunks, as before.
/// Instances this node already holds with the same bytes under the same identity are not read
/// (their header was read when they were stored).
///
/// Memory: what one chunk needs while it is read, and at most ``retainedLimit`` bytes kept for
/// instances whose two pieces arrive apart (in other batches); beyond that an instance is left for
/// the read-back.
package final class TransferHeaderCheck: Sendable {
    /// What a chunk is to an instance whose header is read here.
    private enum Role: Sendable {
        /// Its first chunk.
        case head(Int)
        /// Its second chunk, of which the first ``nextBytes`` are needed.
        case next(Int)
    }

    private struct State {
        /// Per instance: read on the receive path and found as the manifest says.
        var matched: [Bool]
        /// The first contradiction found: the fetch fails with it.
        var contradiction: StoreError?
        /// First chunks waiting for the start of their second, and second chunks' starts waiting for
        /// their first, by instance.
        var heads: [Int: [UInt8]] = [:]
        var nexts: [Int: [UInt8]] = [:]
        var retained = 0
    }

    /// The manifest checked.
    package let manifest: TransferManifest
    /// The patient the study is fetched for.
    package let nhsNumber: NHSNumber
    /// Instances this node holds already with the same bytes, series, study and patient.
    private let held: [Bool]
    private let roles: [Digest256: [Role]]
    private let state: Mutex<State>

    /// Bytes of a second chunk read with its instance's first: the Pixel Data element's header (12
    /// bytes in explicit VR, PS3.5 §7.1.2) and a little more.
    static let nextBytes = 64
    /// Most bytes kept at once for instances whose first and second chunks arrive apart.
    static let retainedLimit = 4 << 20

    /// - Parameters:
    ///   - manifest: The study's manifest, already checked against the holder's index record.
    ///   - nhsNumber: The patient.
    ///   - held: SOP Instance UIDs held here with the same bytes and identity: not read again.
    ///   - receiving: The chunks this fetch will receive; nil for none (every instance not held is
    ///     then read back at the commit).
    package init(
        manifest: TransferManifest, nhsNumber: NHSNumber, held: Set<String>, receiving: Set<Digest256>?
    ) {
        self.manifest = manifest
        self.nhsNumber = nhsNumber
        self.held = manifest.instances.map { held.contains($0.sopInstanceUID) }
        var roles: [Digest256: [Role]] = [:]
        if let receiving {
            for (index, instance) in manifest.instances.enumerated() where !held.contains(instance.sopInstanceUID) {
                let chunks = instance.chunks
                guard let first = chunks.first, receiving.contains(first.hash) else { continue }
                if chunks.count > 1 {
                    // A deflated data set is inflated to its end, and encapsulated pixel data is walked
                    // fragment by fragment (PS3.5 §A.5, §A.4): neither is read from a first chunk and
                    // the start of a second, so those are read back.
                    let syntax = TransferSyntax(uid: instance.transferSyntaxUID)
                    guard !syntax.isDeflated, !syntax.isEncapsulated, receiving.contains(chunks[1].hash) else {
                        continue
                    }
                    roles[chunks[1].hash, default: []].append(.next(index))
                }
                roles[first.hash, default: []].append(.head(index))
            }
        }
        self.roles = roles
        self.state = Mutex(State(matched: Array(repeating: false, count: manifest.instances.count)))
    }

    /// Reads the header of each instance this verified chunk starts (or whose header it completes).
    /// - Parameters:
    ///   - hash: The chunk's hash, already verified against `plaintext`.
    ///   - plaintext: The chunk's bytes; not kept beyond the call (a copy of a first chunk is kept,
    ///     within ``retainedLimit``, until its second arrives).
    package func received(_ hash: Digest256, plaintext: UnsafeRawBufferPointer) {
        guard let roles = roles[hash] else { return }
        for role in roles {
            switch role {
            case .head(let index):
                guard manifest.instances[index].chunks.count > 1 else {
                    record(index, read(index, head: plaintext, next: nil))
                    continue
                }
                let next: [UInt8]? = state.withLock { state in
                    guard !state.matched[index], state.contradiction == nil else { return nil }
                    if let next = state.nexts.removeValue(forKey: index) {
                        state.retained -= next.count
                        return next
                    }
                    if state.heads[index] == nil, state.retained + plaintext.count <= Self.retainedLimit {
                        state.heads[index] = Array(plaintext)
                        state.retained += plaintext.count
                    }
                    return nil
                }
                if let next { next.withUnsafeBytes { record(index, read(index, head: plaintext, next: $0)) } }
            case .next(let index):
                let start = UnsafeRawBufferPointer(rebasing: plaintext[..<min(Self.nextBytes, plaintext.count)])
                let head: [UInt8]? = state.withLock { state in
                    guard !state.matched[index], state.contradiction == nil else { return nil }
                    if let head = state.heads.removeValue(forKey: index) {
                        state.retained -= head.count
                        return head
                    }
                    if state.nexts[index] == nil, state.retained + start.count <= Self.retainedLimit {
                        state.nexts[index] = Array(start)
                        state.retained += start.count
                    }
                    return nil
                }
                if let head { head.withUnsafeBytes { record(index, read(index, head: $0, next: start)) } }
            }
        }
    }

    /// The first instance found on the receive path whose header contradicts the manifest, or nil.
    package var contradiction: StoreError? { state.withLock { $0.contradiction } }

    /// Instances still to be read back from their stored chunks: neither held nor read on the
    /// receive path.
    package var unread: [TransferManifest.Instance] {
        let matched = state.withLock { $0.matched }
        return manifest.instances.indices.filter { !held[$0] && !matched[$0] }.map { manifest.instances[$0] }
    }

    /// How many instances were read on the receive path (for tests and logs).
    package var readOnReceipt: Int { state.withLock { $0.matched.count { $0 } } }

    private func record(_ index: Int, _ result: Reading) {
        state.withLock { state in
            switch result {
            case .matched: state.matched[index] = true
            case .contradicted(let error): if state.contradiction == nil { state.contradiction = error }
            case .incomplete: break
            }
        }
    }

    private enum Reading {
        case matched
        case contradicted(StoreError)
        /// The read needs bytes not in hand: left for the read-back.
        case incomplete
    }

    /// Reads instance `index` from its first chunk and the start of its second.
    private func read(_ index: Int, head: UnsafeRawBufferPointer, next: UnsafeRawBufferPointer?) -> Reading {
        let instance = manifest.instances[index]
        var pieces = [head]
        if let next { pieces.append(next) }
        var source = PartialInstanceSource(size: instance.size, pieces: pieces)
        let info: DICOMFileInfo
        do {
            info = try DICOMReader.read(source: &source)
        } catch {
            // The source is copied into the reader, so what it ran out of is told through a class.
            if source.ranOut.value { return .incomplete }
            return .contradicted(instance.unreadable(error))
        }
        if source.ranOut.value { return .incomplete }
        do {
            try instance.check(info, study: manifest.studyUID, nhsNumber: nhsNumber)
            return .matched
        } catch {
            return .contradicted(error)
        }
    }
}

/// An instance's bytes of which only the first pieces are in hand, for ``DICOMReader``: the pieces
/// in order from the instance's start, then bytes not in hand up to its size. Skips go anywhere
/// within the instance (a skipped value is never read, as with ``ChunkedInstanceSource``); a read of
/// bytes not in hand throws and sets ``ranOut``, so a completed read is the one the whole instance
/// would give.
struct PartialInstanceSource: ByteSource {
    final class Flag {
        var value = false
    }

    let size: Int
    let pieces: [UnsafeRawBufferPointer]
    let ranOut = Flag()
    private var position = 0

    init(size: Int, pieces: [UnsafeRawBufferPointer]) {
        self.size = size
        self.pieces = pieces
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(DICOMError) -> Int {
        guard buffer.count > 0, position < size else { return 0 }
        var start = 0
        for piece in pieces {
            if position < start + piece.count {
                let count = min(buffer.count, start + piece.count - position, size - position)
                buffer.baseAddress!.copyMemory(from: piece.baseAddress! + (position - start), byteCount: count)
                position += count
                return count
            }
            start += piece.count
        }
        ranOut.value = true
        throw .io("read bytes not yet received", path: "offset \(position)", errno: ENODATA)
    }

    mutating func skip(_ count: Int) throws(DICOMError) -> Int {
        let step = min(max(0, count), size - position)
        position += step
        return step
    }
}

extension TransferManifest.Instance {
    /// Checks that the instance's own header (`info`, read from its bytes) names the manifest's SOP
    /// Instance, Series and Study UID and the patient's NHS number.
    /// - Throws: ``StoreError`` naming the first attribute that differs.
    func check(_ info: DICOMFileInfo, study: String, nhsNumber: NHSNumber) throws(StoreError) {
        let a = info.attributes
        func contradicts(_ keyword: String) -> StoreError {
            .manifest("instance \(sopInstanceUID)'s own header has another \(keyword) than the manifest")
        }
        guard a.sopInstanceUID == sopInstanceUID else { throw contradicts("SOPInstanceUID") }
        guard a.seriesInstanceUID == seriesUID else { throw contradicts("SeriesInstanceUID") }
        guard a.studyInstanceUID == study else { throw contradicts("StudyInstanceUID") }
        guard PatientMatching.nhsNumber(for: a) == nhsNumber else { throw contradicts("NHS number") }
    }

    /// The refusal of an instance whose bytes are not DICOM the reader can read.
    func unreadable(_ error: DICOMError) -> StoreError {
        .manifest("instance \(sopInstanceUID) is not readable DICOM: \(error)")
    }
}
