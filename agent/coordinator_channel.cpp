#include "agent/coordinator_channel.hpp"

#include <charconv>

#include "kmod-bridge/error.hpp"

namespace mesh::agent {

std::shared_ptr<grpc::Channel> coordinator_channel(const std::string& address,
                                                   const std::string& fingerprint,
                                                   std::shared_ptr<tls::PinObservation> observed) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 15000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // A channel of its own connection: SyncClient::reconnect replaces the channel to get a new
    // TCP connection, which a shared subchannel pool would hand back as the old one.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return tls::pinned_channel(address, fingerprint, std::move(observed), args);
}

void validate_coordinator_address(const std::string& address) {
    auto colon = address.rfind(':');
    if (address.empty() || colon == std::string::npos || colon == 0 || address.size() > 255) {
        throw Error("coordinator address '" + address.substr(0, 64) +
                    "' must be host:port, e.g. 192.0.2.10:7443");
    }
    unsigned port = 0;
    auto text = std::string_view(address).substr(colon + 1);
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || port == 0 ||
        port > 65535) {
        throw Error("coordinator address '" + address + "' needs a port 1..65535");
    }
}

}  // namespace mesh::agent
