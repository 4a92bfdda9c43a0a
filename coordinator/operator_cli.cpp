#include "coordinator/operator_cli.hpp"

#include <fmt/core.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "coordinator/duration.hpp"
#include "coordinator/nodes_table.hpp"
#include "coordinator/token.hpp"
#include "kmod-bridge/error.hpp"
#include "mesh/v1/admin.grpc.pb.h"

namespace mesh::coord {

namespace {

std::unique_ptr<v1::Admin::Stub> connect(const std::string& socket) {
    auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
    return v1::Admin::NewStub(channel);
}

void check(const grpc::Status& status, const std::string& socket) {
    if (status.ok()) return;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        throw Error("cannot reach the coordinator's admin socket " + socket +
                    " (is mesh-coordinator serve running, and are you root?)");
    }
    throw Error(status.error_message());
}

std::unique_ptr<grpc::ClientContext> context() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
}

}  // namespace

int token_create(const std::string& admin_socket, const TokenCreateOptions& options) {
    v1::CreateTokenRequest request;
    request.set_ttl_seconds(parse_duration(options.ttl));
    request.set_reusable(options.reusable);
    request.set_max_uses(options.max_uses);
    v1::CreateTokenResponse response;
    check(connect(admin_socket)->CreateToken(context().get(), request, &response), admin_socket);
    if (options.quiet) {
        fmt::print("{}\n", response.token());
        return 0;
    }
    std::string where =
        options.coordinator_address.empty() ? "COORDINATOR:7443" : options.coordinator_address;
    fmt::print(
        "token:   {}\nid:      {}\nexpires: {}\nuses:    {}\n\njoin a host with:\n  meshctl join "
        "{} --token {}\n",
        response.token(), response.token_id(), format_utc(response.expires_at()),
        options.reusable ? (options.max_uses ? std::to_string(options.max_uses) : "unlimited")
                         : "1",
        where, response.token());
    return 0;
}

int token_list(const std::string& admin_socket) {
    v1::ListTokensResponse response;
    check(connect(admin_socket)->ListTokens(context().get(), {}, &response), admin_socket);
    fmt::print("{:<18} {:<22} {:<10} {}\n", "ID", "EXPIRES", "USES", "KIND");
    for (const auto& t : response.tokens()) {
        std::string limit = t.max_uses() ? std::to_string(t.max_uses()) : "-";
        fmt::print("{:<18} {:<22} {:<10} {}\n", t.token_id(), format_utc(t.expires_at()),
                   std::to_string(t.uses()) + "/" + limit,
                   t.reusable() ? "reusable" : "single-use");
    }
    return 0;
}

int nodes_list(const std::string& admin_socket, bool json) {
    v1::ListNodesResponse response;
    check(connect(admin_socket)->ListNodes(context().get(), {}, &response), admin_socket);
    if (json) {
        std::string out;
        google::protobuf::util::JsonPrintOptions opts;
        opts.add_whitespace = true;
        (void)google::protobuf::util::MessageToJsonString(response, &out, opts);
        fmt::print("{}", out);
        return 0;
    }
    fmt::print("{}", render_nodes_table(response));
    return 0;
}

int nodes_remove(const std::string& admin_socket, const std::string& node) {
    v1::RemoveNodeRequest request;
    request.set_node(node);
    v1::RemoveNodeResponse response;
    check(connect(admin_socket)->RemoveNode(context().get(), request, &response), admin_socket);
    fmt::print("removed node {}\n", response.node_id());
    return 0;
}

}  // namespace mesh::coord
