import Glibc
import NIOCore
import Synchronization

/// A batch's pack, handed to the thread that writes it while its task waits.
///
/// `@unchecked Sendable`: the bytes are neither read nor written elsewhere until the write returns.
struct PackBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
}

/// The memory one chunk batch needs (the answer as it arrives, the pack being assembled, a chunk's plaintext),
/// kept for the next batch of the same transfer: allocating them afresh for every 8 MiB batch made
/// the kernel fault in and zero new pages each time (a tenth of a fetch's receiving CPU).
///
/// `@unchecked Sendable`: a ``BatchBufferPool`` hands each instance to one batch at a time.
final class BatchBuffers: @unchecked Sendable {
    var body = ByteBuffer()
    private var pack = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var plain = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    /// Buffers of at least these sizes (the pack's aligned for direct I/O); contents undefined.
    func reserve(pack packBytes: Int, plain plainBytes: Int) -> (
        pack: UnsafeMutableRawBufferPointer, plain: UnsafeMutableRawBufferPointer
    ) {
        if pack.count < packBytes || pack.baseAddress == nil {
            pack.deallocate()
            // In 2 MiB pages where the kernel allows it (transparent huge pages, `madvise` mode):
            // faulting in 8 MiB batch buffers 4 KiB at a time was most of a fetch's page faults
            // (the benchmark study: ~15,000 at the requester, ~2,400 with this).
            let huge = 2 << 20
            let bytes = (max(packBytes, 1) + huge - 1) / huge * huge
            pack = .allocate(byteCount: bytes, alignment: huge)
            _ = madvise(pack.baseAddress, bytes, MADV_HUGEPAGE)
        }
        if plain.count < plainBytes || plain.baseAddress == nil {
            plain.deallocate()
            plain = .allocate(byteCount: max(plainBytes, 1), alignment: 16)
        }
        return (pack, plain)
    }

    deinit {
        pack.deallocate()
        plain.deallocate()
    }
}

/// Hands out ``BatchBuffers`` to a transfer's batches in flight and takes them back.
final class BatchBufferPool: Sendable {
    private let free = Mutex<[BatchBuffers]>([])

    func take() -> BatchBuffers { free.withLock { $0.popLast() } ?? BatchBuffers() }

    func give(_ buffers: BatchBuffers) { free.withLock { $0.append(buffers) } }
}
