// checksum.cc — XXH3-64 from Debian's libxxhash.
#include "base/checksum.h"

#include <xxhash.h>

#include "base/assert.h"

namespace raftkv {

std::uint64_t checksum(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

Checksummer::Checksummer() : state_(XXH3_createState()) {
    RAFTKV_ASSERT(state_ != nullptr);
    XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_));
}

Checksummer::~Checksummer() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Checksummer::update(std::string_view bytes) {
    XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
}

std::uint64_t Checksummer::digest() const {
    return XXH3_64bits_digest(static_cast<XXH3_state_t*>(state_));
}

}  // namespace raftkv
