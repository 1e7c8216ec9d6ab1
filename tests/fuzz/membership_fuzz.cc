// membership_fuzz.cc — fuzzes the kConfig entry decoder
// (docs/raft_formats.md, "Configuration entry").
//
// A kConfig entry comes from a peer's append or from the WAL, so any bytes
// must decode to a Membership or be refused. What decodes is well-formed
// (no id 0, voters and learners disjoint) and encodes back to the same bytes
// (the encoding is canonical).
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "raft/membership.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto m = raftkv::raft::decode_membership(in);
    if (m) {
        RAFTKV_ASSERT(!m->contains(raftkv::raft::NodeId(0)), "decoded id 0");
        for (const raftkv::raft::NodeId id : m->learners) {
            RAFTKV_ASSERT(!m->voters.contains(id), "node {} both voter and learner", id.value);
        }
        const std::string again = raftkv::raft::encode_membership(*m);
        RAFTKV_ASSERT(again == in, "decode/encode is not canonical ({} vs {} bytes)", again.size(),
                      in.size());
    }
    return 0;
}
