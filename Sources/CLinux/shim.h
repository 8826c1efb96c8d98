// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not see.
#include <unistd.h>

// syncfs(2): flush every dirty page and metadata change of the filesystem holding fd.
extern int syncfs(int fd);

static inline int trustmesh_syncfs(int fd) { return syncfs(fd); }

// sync_file_range(2) with SYNC_FILE_RANGE_WRITE (2): start writeback of a file's dirty pages now,
// without waiting, so that a later flush finds less left to write.
extern int sync_file_range(int fd, long long offset, long long nbytes, unsigned int flags);

static inline int trustmesh_start_writeback(int fd) { return sync_file_range(fd, 0, 0, 2); }

// O_DIRECT (open(2)): transfer straight between the caller's buffer and the device, bypassing the
// page cache; buffer address, length and file offset must be aligned to the device's block size.
// Its value differs by architecture (the kernel's asm/fcntl.h); 0 means "not used here".
#if defined(__x86_64__) || defined(__i386__)
static inline int trustmesh_o_direct(void) { return 040000; }
#elif defined(__aarch64__) || defined(__arm__)
static inline int trustmesh_o_direct(void) { return 0200000; }
#else
static inline int trustmesh_o_direct(void) { return 0; }
#endif

// glibc malloc tuned for a long-running node: blocks up to 32 MiB come from the heap and up to
// 128 MiB of freed memory stays mapped for reuse, instead of each large buffer being mapped
// afresh and faulted in page by page (perf: most of a serving node's page faults during a fetch).
#include <malloc.h>
static inline void trustmesh_keep_freed_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}
