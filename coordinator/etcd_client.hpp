#pragma once
// A client of etcd's v3 gRPC API (KV, Watch, Lease) over one channel to every member given: gRPC
// connects to the first that answers and moves on to the next when it dies. Unary calls carry
// a deadline; a failure is a StatusError (UNAVAILABLE for a cluster that cannot answer, with
// what etcd said) so callers hand it on to the agent or operator as is.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/status_error.hpp"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace mesh::coord {

namespace etcdpb = ::etcdserverpb;

// etcd answered with an error of its own (not a transport failure): e.g. a compacted revision
// (OUT_OF_RANGE) or a lease it no longer has (NOT_FOUND).
class EtcdError : public StatusError {
  public:
    EtcdError(grpc::StatusCode grpc_code, const std::string& message)
        : StatusError(Code::unavailable, message), grpc_code_(grpc_code) {}
    grpc::StatusCode grpc_code() const { return grpc_code_; }

  private:
    grpc::StatusCode grpc_code_;
};

class EtcdClient {
  public:
    // endpoints: "host:port" of every member (host names are resolved now, to IPv4). Does not
    // connect yet. Throws mesh::Error for a name that does not resolve.
    EtcdClient(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout);

    etcdpb::RangeResponse range(const std::string& key, const std::string& range_end = {},
                                std::int64_t revision = 0, std::int64_t limit = 0);
    etcdpb::TxnResponse txn(const etcdpb::TxnRequest& request);
    void put(const std::string& key, const std::string& value, std::int64_t lease = 0);
    void remove(const std::string& key);
    std::int64_t grant_lease(std::int64_t ttl_seconds);
    void revoke_lease(std::int64_t lease);

    etcdpb::Watch::Stub& watch_stub() { return *watch_; }
    etcdpb::Lease::Stub& lease_stub() { return *lease_; }
    // A context for a long stream: cancelled by etcd when its member loses the leader, so the
    // stream moves to a member that has one instead of waiting on a minority.
    static void require_leader(grpc::ClientContext& context);

    std::chrono::milliseconds timeout() const { return timeout_; }
    const std::string& label() const { return label_; }  // "etcd at H:P,H:P"

  private:
    void prepare(grpc::ClientContext& context) const;
    [[noreturn]] void fail(const grpc::Status& status, const char* what) const;

    std::string label_;
    std::chrono::milliseconds timeout_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<etcdpb::KV::Stub> kv_;
    std::unique_ptr<etcdpb::Watch::Stub> watch_;
    std::unique_ptr<etcdpb::Lease::Stub> lease_;
};

}  // namespace mesh::coord
