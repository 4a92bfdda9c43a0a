#include "agent/coordinator_channel.hpp"

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

}  // namespace mesh::agent
