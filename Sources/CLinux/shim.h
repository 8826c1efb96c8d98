// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not see.
#include <unistd.h>

// syncfs(2): flush every dirty page and metadata change of the filesystem holding fd.
extern int syncfs(int fd);

static inline int trustmesh_syncfs(int fd) { return syncfs(fd); }
