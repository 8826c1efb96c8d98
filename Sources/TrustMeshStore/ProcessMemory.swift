internal import CLinux

/// The process's heap, tuned for a node that moves studies in batches.
package enum ProcessMemory {
    /// Keeps freed memory in the heap for reuse instead of returning it to the kernel: batch pieces
    /// and buffers of up to 32 MiB come from the heap, and the heap is trimmed only past 128 MiB
    /// free (mallopt(3), M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). A/B: ~3-6% off a fetch, peak RSS
    /// within 4 MB. (Here because this target is the one importer of the CLinux shim.)
    package static func keepFreedMemoryForReuse() { trustmesh_keep_freed_memory() }
}
