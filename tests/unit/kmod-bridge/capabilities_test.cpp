#include <catch2/catch.hpp>

#include <linux/capability.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>

#include "kmod-bridge/capabilities.hpp"
#include "kmod-bridge/netlink_socket.hpp"

using namespace mesh::kb;

namespace {

// CapEff from /proc/self/status: the kernel's own account, read another way than capget.
std::uint64_t effective_mask_from_proc() {
    std::ifstream in("/proc/self/status");
    std::string key;
    while (in >> key) {
        if (key == "CapEff:") {
            std::string hex;
            in >> hex;
            return std::stoull(hex, nullptr, 16);
        }
    }
    FAIL("no CapEff in /proc/self/status");
    return 0;
}

}  // namespace

TEST_CASE("has_effective_capability agrees with CapEff in /proc/self/status") {
    const auto mask = effective_mask_from_proc();
    for (int cap : {CAP_CHOWN, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_SYS_RESOURCE,
                    CAP_CHECKPOINT_RESTORE}) {
        INFO("capability " << cap);
        CHECK(has_effective_capability(cap) == (((mask >> cap) & 1) != 0));
    }
    CHECK_FALSE(has_effective_capability(-1));
    CHECK_FALSE(has_effective_capability(64));
}

TEST_CASE("a netlink refusal without CAP_NET_ADMIN names the capability and how to grant it") {
    for (int err : {EPERM, EACCES}) {
        const auto advice = netlink_refusal_advice(err, false);
        CHECK(advice.find("lacks CAP_NET_ADMIN") != std::string::npos);
        CHECK(advice.find("CapabilityBoundingSet=") != std::string::npos);
    }
}

TEST_CASE("a netlink refusal despite CAP_NET_ADMIN points elsewhere") {
    const auto advice = netlink_refusal_advice(EPERM, true);
    CHECK(advice.find("although this process has CAP_NET_ADMIN") != std::string::npos);
    CHECK(advice.find("grant") == std::string::npos);
}

TEST_CASE("netlink refusals with nothing to fix get no advice") {
    CHECK(netlink_refusal_advice(ENODEV, true).find("does not exist") != std::string::npos);
    CHECK(netlink_refusal_advice(EINVAL, false).empty());
    CHECK(netlink_refusal_advice(EEXIST, true).empty());
}
