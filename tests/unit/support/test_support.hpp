#pragma once
// Small helpers shared by the unit tests.
#include <catch2/catch.hpp>

#include <functional>

#include "kmod-bridge/key.hpp"

namespace mesh::test {

// A key whose 32 bytes are all n: distinct, readable keys for tests.
inline kb::Key key_of(std::uint8_t n) {
    kb::Key k;
    k.bytes.fill(n);
    return k;
}

// The code of the StatusError that fn throws; fails the test when it throws none.
template <class StatusError>
auto code_of(const std::function<void()>& fn) -> decltype(std::declval<StatusError>().code()) {
    try {
        fn();
    } catch (const StatusError& e) {
        return e.code();
    }
    FAIL("expected a StatusError");
    return {};
}

}  // namespace mesh::test
