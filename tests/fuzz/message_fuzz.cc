// message_fuzz.cc — fuzzes the peer message decoder (docs/peer_protocol.md,
// "Message").
//
// Every peer frame's payload reaches decode_message, so any bytes must
// decode to a well-formed Message or be refused with a reason. What decodes
// keeps the rules the core relies on (ids not 0, entries consecutive after
// `index` with terms that never decrease, configuration entries that decode)
// and encodes back to the same bytes (the encoding is canonical).
#include <cstdint>
#include <string_view>

#include "base/assert.h"
#include "raft/membership.h"
#include "raft/message_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace raftkv::raft;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const raftkv::Result<Message> m = decode_message(in);
    if (!m.has_value()) {
        RAFTKV_ASSERT(!m.error().message().empty(), "refused without a reason");
        return 0;
    }
    RAFTKV_ASSERT(m->from != NodeId(0) && m->to != NodeId(0), "decoded id 0: {}", to_string(*m));
    RAFTKV_ASSERT(m->from != m->to, "decoded a message to its sender: {}", to_string(*m));
    Term last = m->log_term;
    for (std::size_t i = 0; i < m->entries.size(); ++i) {
        const Entry& e = m->entries[i];
        RAFTKV_ASSERT(e.index.value == m->index.value + 1 + i, "entry {} at index {}", i,
                      e.index.value);
        RAFTKV_ASSERT(e.term >= last && e.term <= m->term, "entry {} term {}", i, e.term.value);
        RAFTKV_ASSERT(e.type != EntryType::kConfig || decode_membership(e.data).has_value(),
                      "entry {} is an undecodable configuration", i);
        last = e.term;
    }
    for (const NodeId id : m->snapshot.membership.learners) {
        RAFTKV_ASSERT(!m->snapshot.membership.voters.contains(id), "node {} voter and learner",
                      id.value);
    }
    const std::string again = encode_message(*m);
    RAFTKV_ASSERT(again == in, "decode/encode is not canonical ({} vs {} bytes)", again.size(),
                  in.size());
    return 0;
}
