// Debian's libfaiss-dev is faiss 1.7.3, which declares idx_t inside faiss::Index;
// faiss-node 0.5.1 was written against 1.7.4, which has faiss::idx_t.
#pragma once
#include <faiss/Index.h>
namespace faiss {
using idx_t = Index::idx_t;
}
