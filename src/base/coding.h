// coding.h — fixed-width little-endian integers in byte buffers.
//
// Every raftkv file and wire format is little-endian (docs/*.md). Writers
// append to a std::string; readers take a std::string_view cursor and report
// "not enough bytes" by returning false rather than reading past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace raftkv {

inline void put_u8(std::string* out, std::uint8_t v) { out->push_back(static_cast<char>(v)); }

inline void put_u32(std::string* out, std::uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out->append(b, 4);
}

inline void put_u64(std::string* out, std::uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out->append(b, 8);
}

inline std::uint32_t decode_u32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
    return v;
}

inline std::uint64_t decode_u64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
    return v;
}

inline void encode_u32(char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline void encode_u64(char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// A read cursor over a byte buffer. Each get_* consumes bytes on success and
// returns false, consuming nothing, when too few remain.
class ByteReader {
public:
    explicit ByteReader(std::string_view in) : in_(in) {}
    bool get_u8(std::uint8_t* v) {
        if (in_.size() < 1) return false;
        *v = static_cast<std::uint8_t>(in_[0]);
        in_.remove_prefix(1);
        return true;
    }
    bool get_u32(std::uint32_t* v) {
        if (in_.size() < 4) return false;
        *v = decode_u32(in_.data());
        in_.remove_prefix(4);
        return true;
    }
    bool get_u64(std::uint64_t* v) {
        if (in_.size() < 8) return false;
        *v = decode_u64(in_.data());
        in_.remove_prefix(8);
        return true;
    }
    bool get_bytes(std::size_t n, std::string_view* v) {
        if (in_.size() < n) return false;
        *v = in_.substr(0, n);
        in_.remove_prefix(n);
        return true;
    }
    std::size_t remaining() const { return in_.size(); }
    std::string_view rest() const { return in_; }

private:
    std::string_view in_;
};

}  // namespace raftkv
