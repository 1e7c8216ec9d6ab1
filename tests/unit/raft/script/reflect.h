// reflect.h — the fields of a plain aggregate (a struct with public members,
// no base classes, no constructors), with their names, for the raft script
// printer (print.h), so that a field added to raft::Ready or raft::Message
// shows up in every transcript without touching the printer.
//
// Standard C++20 plus one compiler feature GCC and Clang share: the text of
// __PRETTY_FUNCTION__ for a function templated on a pointer to a member of
// a (never defined) object names that member. Counting the fields uses
// aggregate initialization from a value that converts to anything. Handles
// up to 20 fields; a bigger struct fails to compile. Test code only.
#pragma once

#include <cstddef>
#include <string_view>
#include <tuple>
#include <utility>

// kFake below is declared and never defined on purpose.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wundefined-var-template"
#endif

namespace raftkv::raft::script::reflect {

namespace detail {

struct AnyField {
    template <class T>
    operator T() const;  // never defined: only used in unevaluated contexts
};

template <class T, class... A>
concept BraceConstructible = requires {
    T{std::declval<A>()...};
};

template <class T, class... A>
consteval std::size_t count_fields() {
    if constexpr (BraceConstructible<T, A..., AnyField>) {
        return count_fields<T, A..., AnyField>();
    } else {
        return sizeof...(A);
    }
}

}  // namespace detail

// The number of fields of the aggregate T.
template <class T>
inline constexpr std::size_t kFieldCount = detail::count_fields<T>();

// A tuple of pointers to the fields of `t`, in declaration order.
template <class T>
constexpr auto field_pointers(const T& t) {
    if constexpr (kFieldCount<T> == 1) {
        const auto& [f0] = t;
        return std::make_tuple(&f0);
    } else if constexpr (kFieldCount<T> == 2) {
        const auto& [f0, f1] = t;
        return std::make_tuple(&f0, &f1);
    } else if constexpr (kFieldCount<T> == 3) {
        const auto& [f0, f1, f2] = t;
        return std::make_tuple(&f0, &f1, &f2);
    } else if constexpr (kFieldCount<T> == 4) {
        const auto& [f0, f1, f2, f3] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3);
    } else if constexpr (kFieldCount<T> == 5) {
        const auto& [f0, f1, f2, f3, f4] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4);
    } else if constexpr (kFieldCount<T> == 6) {
        const auto& [f0, f1, f2, f3, f4, f5] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5);
    } else if constexpr (kFieldCount<T> == 7) {
        const auto& [f0, f1, f2, f3, f4, f5, f6] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6);
    } else if constexpr (kFieldCount<T> == 8) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7);
    } else if constexpr (kFieldCount<T> == 9) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8);
    } else if constexpr (kFieldCount<T> == 10) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9);
    } else if constexpr (kFieldCount<T> == 11) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10);
    } else if constexpr (kFieldCount<T> == 12) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11);
    } else if constexpr (kFieldCount<T> == 13) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12);
    } else if constexpr (kFieldCount<T> == 14) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13);
    } else if constexpr (kFieldCount<T> == 15) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13, &f14);
    } else if constexpr (kFieldCount<T> == 16) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13, &f14, &f15);
    } else if constexpr (kFieldCount<T> == 17) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13, &f14, &f15, &f16);
    } else if constexpr (kFieldCount<T> == 18) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16,
                     f17] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13, &f14, &f15, &f16, &f17);
    } else if constexpr (kFieldCount<T> == 19) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17,
                     f18] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13, &f14, &f15, &f16, &f17, &f18);
    } else if constexpr (kFieldCount<T> == 20) {
        const auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17,
                     f18, f19] = t;
        return std::make_tuple(&f0, &f1, &f2, &f3, &f4, &f5, &f6, &f7, &f8, &f9, &f10, &f11, &f12,
                               &f13, &f14, &f15, &f16, &f17, &f18, &f19);
    } else {
        static_assert(kFieldCount<T> <= 20, "more fields than field_pointers handles");
        return std::tuple<>();
    }
}

namespace detail {

template <class T>
struct FakeHolder {
    const T reflected_value_;
};
// Declared, never defined: only its members' addresses are used, at compile time.
template <class T>
extern const FakeHolder<T> kFake;

template <class P>
struct PointerBox {
    P pointer;
};

template <auto Box>
consteval std::string_view pretty_function() {
    return __PRETTY_FUNCTION__;
}

// GCC: "...{(& kFake<T>.FakeHolder<T>::reflected_value_.T::name)}...";
// Clang: "...{&kFake.reflected_value_.name}...". The name is the identifier
// after the last '.' or ':' following the marker.
consteval std::string_view name_from_pretty(std::string_view s) {
    constexpr std::string_view kMarker = "reflected_value_";
    s.remove_prefix(s.find(kMarker) + kMarker.size());
    s = s.substr(0, s.find_first_of(")}], "));
    return s.substr(s.find_last_of(".:") + 1);
}

}  // namespace detail

// The name of field I of T, as declared.
template <class T, std::size_t I>
consteval std::string_view field_name() {
    constexpr auto pointer = std::get<I>(field_pointers(detail::kFake<T>.reflected_value_));
    constexpr detail::PointerBox<decltype(pointer)> box{pointer};
    return detail::name_from_pretty(detail::pretty_function<box>());
}

// Calls f(name, value) for each field of `t`, in declaration order.
template <class T, class F>
void for_each_field(const T& t, F&& f) {
    const auto pointers = field_pointers(t);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (f(field_name<T, I>(), *std::get<I>(pointers)), ...);
    }
    (std::make_index_sequence<kFieldCount<T>>{});
}

}  // namespace raftkv::raft::script::reflect

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
