// checksum.h — the checksum of every raftkv record and file: XXH3-64.
//
// Chosen for speed (several GB/s, far above disk bandwidth) and because
// Debian ships libxxhash. Formats store all 64 bits (docs/wal_format.md).
#pragma once

#include <cstdint>
#include <string_view>

namespace raftkv {

std::uint64_t checksum(std::string_view bytes);

// Incremental form, for data that is not contiguous in memory.
class Checksummer {
public:
    Checksummer();
    ~Checksummer();
    Checksummer(const Checksummer&) = delete;
    Checksummer& operator=(const Checksummer&) = delete;
    void update(std::string_view bytes);
    std::uint64_t digest() const;

private:
    void* state_;
};

}  // namespace raftkv
