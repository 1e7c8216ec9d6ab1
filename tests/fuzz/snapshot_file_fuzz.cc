// snapshot_file_fuzz.cc — fuzzes the decoders of the snapshot and hard
// state files (docs/snapshot_format.md).
//
// The first byte picks the decoder. Any bytes must decode or be refused;
// what decodes must encode back to the same bytes (in the snapshot file
// version it was read from: 1 or 2).
#include <cstdint>
#include <string>
#include <string_view>

#include "base/assert.h"
#include "storage/hard_state_file.h"
#include "storage/snapshot_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] & 1) {
        auto hs = raftkv::storage::decode_hard_state(in, "fuzz/hard_state");
        if (hs) RAFTKV_ASSERT(raftkv::storage::encode_hard_state(*hs) == in, "not canonical");
    } else {
        auto snap = raftkv::storage::decode_snapshot(in, "fuzz/snap");
        if (snap) {
            const std::string again =
                snap->version == 1 ? raftkv::storage::encode_snapshot_v1(snap->meta, snap->payload)
                                   : raftkv::storage::encode_snapshot(snap->meta, snap->payload);
            RAFTKV_ASSERT(again == in, "not canonical (version {})", snap->version);
        }
    }
    return 0;
}
