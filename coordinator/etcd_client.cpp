#include "coordinator/etcd_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include "kmod-bridge/error.hpp"

namespace mesh::coord {

namespace {

// "host:port" -> "a.b.c.d:port": gRPC's ipv4: target lists literal addresses only.
std::string resolve(const std::string& endpoint) {
    auto colon = endpoint.rfind(':');
    std::string host = endpoint.substr(0, colon), port = endpoint.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0 || !found) {
        throw Error("etcd address " + endpoint + ": " + ::gai_strerror(rc) +
                    " (etcd is reached over IPv4)");
    }
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text,
                sizeof text);
    ::freeaddrinfo(found);
    return std::string(text) + ":" + port;
}

}  // namespace

EtcdClient::EtcdClient(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
    std::string target = "ipv4:", names;
    for (const auto& e : endpoints) {
        target += (target.size() > 5 ? "," : "") + resolve(e);
        names += (names.empty() ? "" : ",") + e;
    }
    label_ = "etcd at " + names;
    grpc::ChannelArguments args;
    // A member that died is noticed by keepalive and the next one tried within about a second
    // (gRPC's default backoff grows to two minutes).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // The whole fleet in one range at start: 10,000 nodes are a few MiB.
    args.SetMaxReceiveMessageSize(512 << 20);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    kv_ = etcdpb::KV::NewStub(channel_);
    watch_ = etcdpb::Watch::NewStub(channel_);
    lease_ = etcdpb::Lease::NewStub(channel_);
}

void EtcdClient::prepare(grpc::ClientContext& context) const {
    context.set_deadline(std::chrono::system_clock::now() + timeout_);
    // Wait for a member to connect (within the deadline) instead of failing at once while the
    // channel moves to the next one.
    context.set_wait_for_ready(true);
}

void EtcdClient::require_leader(grpc::ClientContext& context) {
    context.AddMetadata("hasleader", "true");
}

void EtcdClient::fail(const grpc::Status& status, const char* what) const {
    const std::string detail = label_ + " " + what + ": " + status.error_message();
    switch (status.error_code()) {
        case grpc::StatusCode::UNAVAILABLE:
        case grpc::StatusCode::CANCELLED:
            throw StatusError(Code::unavailable,
                              "the coordinators' store is unreachable (" + detail +
                                  "); nothing was changed, try again when etcd has a quorum");
        case grpc::StatusCode::DEADLINE_EXCEEDED:
            // A write etcd did not confirm in time may still commit (its change then reaches
            // every replica by the watch, as any other).
            throw StatusError(Code::unavailable,
                              "the coordinators' store did not answer in time (" + detail +
                                  "); if this was a change it may still be applied: try again "
                                  "when etcd has a quorum");
        default:
            throw EtcdError(status.error_code(), detail);
    }
}

etcdpb::RangeResponse EtcdClient::range(const std::string& key, const std::string& range_end,
                                        std::int64_t revision, std::int64_t limit) {
    etcdpb::RangeRequest request;
    request.set_key(key);
    if (!range_end.empty()) request.set_range_end(range_end);
    request.set_revision(revision);
    request.set_limit(limit);
    etcdpb::RangeResponse response;
    grpc::ClientContext context;
    prepare(context);
    if (auto s = kv_->Range(&context, request, &response); !s.ok()) fail(s, "range");
    return response;
}

etcdpb::TxnResponse EtcdClient::txn(const etcdpb::TxnRequest& request) {
    etcdpb::TxnResponse response;
    grpc::ClientContext context;
    prepare(context);
    if (auto s = kv_->Txn(&context, request, &response); !s.ok()) fail(s, "transaction");
    return response;
}

void EtcdClient::put(const std::string& key, const std::string& value, std::int64_t lease) {
    etcdpb::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    request.set_lease(lease);
    etcdpb::PutResponse response;
    grpc::ClientContext context;
    prepare(context);
    if (auto s = kv_->Put(&context, request, &response); !s.ok()) fail(s, "put");
}

void EtcdClient::remove(const std::string& key) {
    etcdpb::DeleteRangeRequest request;
    request.set_key(key);
    etcdpb::DeleteRangeResponse response;
    grpc::ClientContext context;
    prepare(context);
    if (auto s = kv_->DeleteRange(&context, request, &response); !s.ok()) fail(s, "delete");
}

std::int64_t EtcdClient::grant_lease(std::int64_t ttl_seconds) {
    etcdpb::LeaseGrantRequest request;
    request.set_ttl(ttl_seconds);
    etcdpb::LeaseGrantResponse response;
    grpc::ClientContext context;
    prepare(context);
    if (auto s = lease_->LeaseGrant(&context, request, &response); !s.ok()) fail(s, "lease grant");
    if (!response.error().empty())
        throw StatusError(Code::unavailable, label_ + ": " + response.error());
    return response.id();
}

void EtcdClient::revoke_lease(std::int64_t lease) {
    etcdpb::LeaseRevokeRequest request;
    request.set_id(lease);
    etcdpb::LeaseRevokeResponse response;
    grpc::ClientContext context;
    prepare(context);
    if (auto s = lease_->LeaseRevoke(&context, request, &response); !s.ok()) {
        fail(s, "lease revoke");
    }
}

}  // namespace mesh::coord
