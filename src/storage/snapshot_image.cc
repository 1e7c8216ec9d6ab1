// snapshot_image.cc — MemorySnapshotImage (snapshot_image.h).
#include "storage/snapshot_image.h"

#include <fmt/format.h>

namespace raftkv::storage {

std::string MemorySnapshotImage::name() const {
    return fmt::format("memory snapshot at index {}", meta_.index.value);
}

}  // namespace raftkv::storage
