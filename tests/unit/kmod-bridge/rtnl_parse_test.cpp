#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/rtnl_parse.hpp"

using namespace mesh::kb;

namespace {

// Builds a buffer of netlink messages the way the kernel lays them out.
class Replies {
  public:
    nlmsghdr* begin(std::uint16_t type, std::uint32_t seq, std::uint16_t flags = 0) {
        auto* m = mnl_nlmsg_put_header(reinterpret_cast<char*>(buf_.data()) + used_);
        m->nlmsg_type = type;
        m->nlmsg_seq = seq;
        m->nlmsg_flags = flags;
        last_ = m;
        return m;
    }
    void address(std::uint32_t seq, unsigned index, const IpPrefix& p, bool with_local = true) {
        auto* m = begin(RTM_NEWADDR, seq, NLM_F_MULTI);
        auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(m, sizeof(ifaddrmsg)));
        ifa->ifa_family = p.address.is_v4() ? AF_INET : AF_INET6;
        ifa->ifa_prefixlen = p.length;
        ifa->ifa_index = index;
        mnl_attr_put(m, IFA_ADDRESS, p.address.size(), p.address.bytes.data());
        if (with_local) mnl_attr_put(m, IFA_LOCAL, p.address.size(), p.address.bytes.data());
        end();
    }
    void done(std::uint32_t seq, int status = 0) {
        auto* m = begin(NLMSG_DONE, seq, NLM_F_MULTI);
        std::memcpy(mnl_nlmsg_put_extra_header(m, sizeof status), &status, sizeof status);
        end();
    }
    void error(std::uint32_t seq, int err, const char* text = nullptr) {
        auto* m = begin(NLMSG_ERROR, seq, NLM_F_CAPPED);
        auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(m, sizeof(nlmsgerr)));
        e->error = -err;
        e->msg.nlmsg_len = 64;  // the original request's length, not echoed (capped)
        if (text) {
            m->nlmsg_flags |= NLM_F_ACK_TLVS;
            mnl_attr_put_strz(m, NLMSGERR_ATTR_MSG, text);
        }
        end();
    }
    void end() { used_ += MNL_ALIGN(last_->nlmsg_len); }
    std::span<const std::uint8_t> bytes() const {
        return {reinterpret_cast<const std::uint8_t*>(buf_.data()), used_};
    }

  private:
    std::array<std::uint32_t, 4096> buf_{};
    std::size_t used_ = 0;
    nlmsghdr* last_ = nullptr;
};

}  // namespace

TEST_CASE("an address dump yields the interface's addresses with host bits") {
    Replies r;
    r.address(7, 5, IpPrefix::parse("100.64.0.5/10", true));
    r.address(7, 6, IpPrefix::parse("10.0.0.1/8", true));  // another interface
    r.address(7, 5, IpPrefix::parse("fd00::5/64", true), false);
    std::vector<IpPrefix> out;
    auto outcome = parse_address_dump(r.bytes(), 7, 5, out);
    CHECK_FALSE(outcome.done);
    CHECK(out ==
          std::vector{IpPrefix::parse("100.64.0.5/10", true), IpPrefix::parse("fd00::5/64", true)});

    Replies end;
    end.done(7);
    outcome = parse_address_dump(end.bytes(), 7, 5, out);
    CHECK(outcome.done);
    CHECK(outcome.error == 0);
}

TEST_CASE("IFA_LOCAL wins over IFA_ADDRESS, which is the peer on point-to-point links") {
    Replies r;
    auto* m = r.begin(RTM_NEWADDR, 1);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(m, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = 32;
    ifa->ifa_index = 3;
    std::uint8_t peer[4] = {10, 0, 0, 2}, local[4] = {10, 0, 0, 1};
    mnl_attr_put(m, IFA_ADDRESS, 4, peer);
    mnl_attr_put(m, IFA_LOCAL, 4, local);
    r.end();
    std::vector<IpPrefix> out;
    parse_address_dump(r.bytes(), 1, 3, out);
    CHECK(out == std::vector{IpPrefix::parse("10.0.0.1/32")});
}

TEST_CASE("acks, errors and the kernel's explanation") {
    Replies ok;
    ok.error(9, 0);
    auto outcome = walk_replies(ok.bytes(), 9, [](const nlmsghdr&) { FAIL("no data expected"); });
    CHECK(outcome.done);
    CHECK(outcome.error == 0);

    Replies refused;
    refused.error(9, EEXIST, "Address already assigned");
    outcome = walk_replies(refused.bytes(), 9, [](const nlmsghdr&) {});
    CHECK(outcome.error == EEXIST);
    CHECK(outcome.message == "Address already assigned");

    Replies failed_dump;
    failed_dump.done(9, -EINVAL);
    CHECK(walk_replies(failed_dump.bytes(), 9, [](const nlmsghdr&) {}).error == EINVAL);
}

TEST_CASE("replies to an earlier request are skipped") {
    Replies r;
    r.error(4, ENODEV);  // stale: a request that timed out
    r.error(5, 0);
    auto outcome = walk_replies(r.bytes(), 5, [](const nlmsghdr&) {});
    CHECK(outcome.done);
    CHECK(outcome.error == 0);
}

TEST_CASE("malformed replies are rejected, not misread") {
    Replies r;
    r.address(1, 2, IpPrefix::parse("192.0.2.1/24", true));
    auto bytes = r.bytes();
    std::vector<IpPrefix> out;
    SECTION("a truncated message") {
        CHECK_THROWS_AS(parse_address_dump(bytes.first(bytes.size() - 4), 1, 2, out), mesh::Error);
        CHECK_THROWS_AS(parse_address_dump(bytes.first(10), 1, 2, out), mesh::Error);
    }
    SECTION("an address of the wrong length") {
        Replies bad;
        auto* m = bad.begin(RTM_NEWADDR, 1);
        auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(m, sizeof(ifaddrmsg)));
        ifa->ifa_family = AF_INET6;
        ifa->ifa_index = 2;
        std::uint8_t four[4] = {};
        mnl_attr_put(m, IFA_ADDRESS, 4, four);
        bad.end();
        CHECK_THROWS_AS(parse_address_dump(bad.bytes(), 1, 2, out), mesh::Error);
    }
    SECTION("a prefix length too long for the family") {
        Replies bad;
        bad.address(1, 2, IpPrefix::parse("192.0.2.1/24", true));
        auto copy = std::vector<std::uint8_t>(bad.bytes().begin(), bad.bytes().end());
        copy[sizeof(nlmsghdr) + 1] = 33;  // ifa_prefixlen
        CHECK_THROWS_AS(parse_address_dump(copy, 1, 2, out), mesh::Error);
    }
    SECTION("a message length near 2^32, which libmnl's own check lets through") {
        for (std::uint32_t len : {0xffffffffu, 0xfffffffdu, 0x80000010u}) {
            auto copy = std::vector<std::uint8_t>(bytes.begin(), bytes.end());
            std::memcpy(copy.data(), &len, sizeof len);
            CHECK_THROWS_AS(parse_address_dump(copy, 1, 2, out), mesh::Error);
        }
    }
    SECTION("an error message too short for its header") {
        Replies bad;
        bad.begin(NLMSG_ERROR, 1);
        bad.end();
        CHECK_THROWS_AS(walk_replies(bad.bytes(), 1, [](const nlmsghdr&) {}), mesh::Error);
    }
}

TEST_CASE("a buffer that is not 4-byte aligned is parsed the same") {
    Replies r;
    r.address(1, 2, IpPrefix::parse("192.0.2.1/24", true));
    std::vector<std::uint8_t> shifted(r.bytes().size() + 1);
    std::memcpy(shifted.data() + 1, r.bytes().data(), r.bytes().size());
    std::vector<IpPrefix> out;
    parse_address_dump(std::span(shifted).subspan(1), 1, 2, out);
    CHECK(out == std::vector{IpPrefix::parse("192.0.2.1/24", true)});
}

TEST_CASE("parse_link_index reads an RTM_NEWLINK reply") {
    Replies r;
    auto* m = r.begin(RTM_NEWLINK, 1);
    static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(m, sizeof(ifinfomsg)))->ifi_index = 42;
    CHECK(parse_link_index(*m) == 42);
    m->nlmsg_type = RTM_NEWADDR;
    CHECK_THROWS_AS(parse_link_index(*m), mesh::Error);
}

namespace {

void put_route(Replies& r, std::uint32_t seq, const IpPrefix& dst, unsigned oif,
               std::uint8_t protocol, std::uint8_t table = RT_TABLE_MAIN) {
    auto* m = r.begin(RTM_NEWROUTE, seq, NLM_F_MULTI);
    auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(m, sizeof(rtmsg)));
    rt->rtm_family = dst.address.is_v4() ? AF_INET : AF_INET6;
    rt->rtm_dst_len = dst.length;
    rt->rtm_table = table;
    rt->rtm_protocol = protocol;
    rt->rtm_type = RTN_UNICAST;
    if (dst.length != 0) mnl_attr_put(m, RTA_DST, dst.address.size(), dst.address.bytes.data());
    mnl_attr_put_u32(m, RTA_OIF, oif);
    mnl_attr_put_u32(m, RTA_TABLE, table);
    r.end();
}

}  // namespace

TEST_CASE("a route dump yields the interface's main-table routes of one protocol") {
    Replies r;
    put_route(r, 3, IpPrefix::parse("10.244.1.0/24"), 5, 77);
    put_route(r, 3, IpPrefix::parse("10.244.2.0/24"), 6, 77);       // another interface
    put_route(r, 3, IpPrefix::parse("10.244.3.0/24"), 5, 3);        // someone else's (boot)
    put_route(r, 3, IpPrefix::parse("10.244.4.0/24"), 5, 77, 200);  // another table
    put_route(r, 3, IpPrefix::parse("fd10::/64"), 5, 77);
    put_route(r, 3, IpPrefix::parse("0.0.0.0/0"), 5, 77);
    r.done(3);
    std::vector<IpPrefix> out;
    auto outcome = parse_route_dump(r.bytes(), 3, 5, 77, out);
    CHECK(outcome.done);
    CHECK(out == std::vector{IpPrefix::parse("10.244.1.0/24"), IpPrefix::parse("fd10::/64"),
                             IpPrefix::parse("0.0.0.0/0")});
}

TEST_CASE("a malformed route message is an error, not a misread") {
    Replies r;
    auto* m = r.begin(RTM_NEWROUTE, 3, NLM_F_MULTI);
    auto* rt = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(m, sizeof(rtmsg)));
    rt->rtm_family = AF_INET;
    rt->rtm_dst_len = 40;  // longer than IPv4 allows
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = 77;
    rt->rtm_type = RTN_UNICAST;
    r.end();
    std::vector<IpPrefix> out;
    CHECK_THROWS_AS(parse_route_dump(r.bytes(), 3, 5, 77, out), mesh::Error);

    Replies wrong;
    put_route(wrong, 3, IpPrefix::parse("fd10::/64"), 5, 77);
    // An IPv6 route whose destination attribute is 4 bytes long.
    auto* m2 = wrong.begin(RTM_NEWROUTE, 3, NLM_F_MULTI);
    auto* rt2 = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(m2, sizeof(rtmsg)));
    rt2->rtm_family = AF_INET6;
    rt2->rtm_dst_len = 64;
    rt2->rtm_table = RT_TABLE_MAIN;
    rt2->rtm_protocol = 77;
    rt2->rtm_type = RTN_UNICAST;
    std::uint32_t four = 0;
    mnl_attr_put(m2, RTA_DST, sizeof four, &four);
    mnl_attr_put_u32(m2, RTA_OIF, 5);
    wrong.end();
    CHECK_THROWS_AS(parse_route_dump(wrong.bytes(), 3, 5, 77, out), mesh::Error);
}
