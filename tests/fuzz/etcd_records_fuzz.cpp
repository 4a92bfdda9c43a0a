// Feeds arbitrary bytes to what a coordinator replica reads back from etcd (records any replica,
// or anyone with access to the cluster, wrote) and to the --store URL parser. The first byte
// picks the parser. Each may reject input only by throwing mesh::Error; what a record decoder
// accepts must encode and decode to the same record, and a key's parse must be stable.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coordinator/etcd_records.hpp"
#include "coordinator/store_url.hpp"
#include "kmod-bridge/error.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace mesh::coord;

namespace {

template <class Decode, class Encode>
void round_trip(std::string_view bytes, Decode decode, Encode encode) {
    auto first = decode(bytes, "k");
    auto again = decode(encode(first), "k");
    FUZZ_CHECK(again == first);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 8) {
            case 0:
                round_trip(bytes, decode_node, encode_node);
                break;
            case 1:
                round_trip(bytes, decode_token, encode_token);
                break;
            case 2:
                round_trip(bytes, decode_hold, encode_hold);
                break;
            case 3:
                round_trip(bytes, decode_live, encode_live);
                break;
            case 4:
                round_trip(bytes, decode_acks, encode_acks);
                break;
            case 5: {
                auto n = decode_number(bytes, "k");
                FUZZ_CHECK(std::to_string(n) == bytes || bytes.starts_with('0'));
                break;
            }
            case 6: {
                auto url = parse_store_url(bytes);
                auto again = parse_store_url(url.to_string());
                FUZZ_CHECK(again.to_string() == url.to_string());
                break;
            }
            case 7: {
                EtcdKeys keys("/mesh/");
                auto parsed = keys.parse(bytes);
                FUZZ_CHECK(parsed.kind == EtcdKeys::Kind::other || bytes.starts_with("/mesh/"));
                break;
            }
        }
    } catch (const mesh::Error&) {
    }
    return 0;
}
