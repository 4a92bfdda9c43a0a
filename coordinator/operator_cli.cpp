#include "coordinator/operator_cli.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <grpcpp/grpcpp.h>

#include "coordinator/admin_json.hpp"
#include "coordinator/duration.hpp"
#include "coordinator/nodes_table.hpp"
#include "coordinator/token.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "local_socket.hpp"
#include "mesh/v1/admin.grpc.pb.h"
#include "tls_pin.hpp"

namespace mesh::coord {

namespace {

// One connection to the Admin service, local or remote, with the context every call needs.
class AdminClient {
  public:
    explicit AdminClient(const AdminTarget& target) : target_(target) {
        std::shared_ptr<grpc::Channel> channel;
        if (target.remote.empty()) {
            channel = local::local_channel(target.admin_socket);
        } else {
            if (target.fingerprint.empty()) {
                throw Error(
                    "--remote needs --fingerprint (as `token create` or `mesh-coordinator "
                    "fingerprint` prints it)");
            }
            observed_ = std::make_shared<tls::PinObservation>();
            // The node list of a large fleet outgrows gRPC's 4 MiB default; the far end is
            // the pinned coordinator.
            grpc::ChannelArguments args;
            args.SetMaxReceiveMessageSize(-1);
            channel = tls::pinned_channel(target.remote, tls::parse_fingerprint(target.fingerprint),
                                          observed_, args);
        }
        stub_ = v1::Admin::NewStub(channel);
    }

    v1::Admin::Stub& stub() { return *stub_; }

    std::unique_ptr<grpc::ClientContext> context() const {
        auto ctx = std::make_unique<grpc::ClientContext>();
        ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        if (!target_.remote.empty() && !target_.credential.empty()) {
            ctx->AddMetadata("authorization", "Bearer " + target_.credential);
        }
        return ctx;
    }

    void check(const grpc::Status& status) const {
        if (status.ok()) return;
        if (observed_) {
            std::lock_guard lock(observed_->mutex);
            if (observed_->mismatch) {
                throw Error(tls::mismatch_message(tls::parse_fingerprint(target_.fingerprint),
                                                  observed_->presented));
            }
        }
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
            if (!target_.remote.empty()) {
                throw Error("cannot reach the coordinator's admin port " + target_.remote + " (" +
                            status.error_message() + ")");
            }
            throw Error("cannot reach the coordinator's admin socket " + target_.admin_socket +
                        " (is mesh-coordinator serve running, and are you root?)");
        }
        throw Error(status.error_message());
    }

  private:
    AdminTarget target_;
    std::shared_ptr<tls::PinObservation> observed_;
    std::unique_ptr<v1::Admin::Stub> stub_;
};

std::string uses_text(bool reusable, std::uint32_t max_uses) {
    if (!reusable) return "1";
    return max_uses ? std::to_string(max_uses) : "unlimited";
}

}  // namespace

std::string read_credential_file(const std::string& path) {
    std::string text = kb::read_file(path);
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) throw Error("the credential file " + path + " is empty");
    return line;
}

int token_create(const AdminTarget& target, const TokenCreateOptions& options) {
    v1::CreateTokenRequest request;
    request.set_ttl_seconds(parse_duration(options.ttl));
    request.set_reusable(options.reusable);
    request.set_max_uses(options.max_uses);
    for (const auto& t : options.tags) request.add_tags(t);
    request.set_ephemeral(options.ephemeral);
    v1::CreateTokenResponse response;
    AdminClient client(target);
    client.check(client.stub().CreateToken(client.context().get(), request, &response));
    if (options.quiet) {
        fmt::print("{}\n", response.token());
        return 0;
    }
    std::string where =
        options.coordinator_address.empty() ? "COORDINATOR:7443" : options.coordinator_address;
    fmt::print(
        "token:       {}\nid:          {}\nexpires:     {}\nuses:        {}\ntags:        "
        "{}\nephemeral:   {}\nfingerprint: {}\n\njoin a host with (it reads the token from stdin: "
        "paste it, then Enter):\n  meshctl join {} --token-file - --fingerprint {}\nor with the "
        "token in a file (--token-file FILE), or on the command line, where every local user "
        "sees it while the join runs:\n  meshctl join {} --token {} --fingerprint {}\n",
        response.token(), response.token_id(), format_utc(response.expires_at()),
        uses_text(options.reusable, options.max_uses),
        options.tags.empty() ? "-" : fmt::format("{}", fmt::join(options.tags, ",")),
        options.ephemeral ? "yes" : "no", response.fingerprint(), where, response.fingerprint(),
        where, response.token(), response.fingerprint());
    return 0;
}

int token_list(const AdminTarget& target, bool json) {
    v1::ListTokensResponse response;
    AdminClient client(target);
    client.check(client.stub().ListTokens(client.context().get(), {}, &response));
    if (json) {
        fmt::print("{}", render_tokens_json(response));
        return 0;
    }
    fmt::print("{:<18} {:<22} {:<10} {:<11} {:<9} {}\n", "ID", "EXPIRES", "USES", "KIND", "STATE",
               "TAGS");
    for (const auto& t : response.tokens()) {
        std::string limit = t.max_uses() ? std::to_string(t.max_uses()) : "-";
        std::string kind = t.reusable() ? "reusable" : "single-use";
        if (t.ephemeral()) kind += "+eph";
        fmt::print("{:<18} {:<22} {:<10} {:<11} {:<9} {}\n", t.token_id(),
                   format_utc(t.expires_at()), std::to_string(t.uses()) + "/" + limit, kind,
                   t.revoked() ? "revoked" : "active",
                   t.tags().empty() ? "-" : fmt::format("{}", fmt::join(t.tags(), ",")));
    }
    return 0;
}

int token_revoke(const AdminTarget& target, const std::string& token_id) {
    v1::RevokeTokenRequest request;
    request.set_token_id(token_id);
    v1::RevokeTokenResponse response;
    AdminClient client(target);
    client.check(client.stub().RevokeToken(client.context().get(), request, &response));
    fmt::print("revoked token {}\n", token_id);
    return 0;
}

int nodes_expire(const AdminTarget& target, const std::string& node) {
    v1::ExpireNodeRequest request;
    request.set_node(node);
    v1::ExpireNodeResponse response;
    AdminClient client(target);
    client.check(client.stub().ExpireNode(client.context().get(), request, &response));
    fmt::print("expired node {}: it left every peer; it must join again with a token\n",
               response.node_id());
    return 0;
}

int credential_create(const AdminTarget& target) {
    v1::CreateOperatorCredentialResponse response;
    AdminClient client(target);
    client.check(client.stub().CreateOperatorCredential(client.context().get(), {}, &response));
    fmt::print("{}\n", response.credential());
    return 0;
}

int print_fingerprint(const std::string& cert_file) {
    std::string pem;
    try {
        pem = kb::read_file(cert_file);
    } catch (const Error& e) {
        throw Error(std::string(e.what()) +
                    " (the coordinator makes it on first start; is this the right --state-dir?)");
    }
    fmt::print("{}\n", tls::fingerprint_of_pem(pem));
    return 0;
}

int nodes_list(const AdminTarget& target, bool json) {
    v1::ListNodesResponse response;
    AdminClient client(target);
    client.check(client.stub().ListNodes(client.context().get(), {}, &response));
    fmt::print("{}", json ? render_nodes_json(response) : render_nodes_table(response));
    return 0;
}

int nodes_remove(const AdminTarget& target, const std::string& node) {
    v1::RemoveNodeRequest request;
    request.set_node(node);
    v1::RemoveNodeResponse response;
    AdminClient client(target);
    client.check(client.stub().RemoveNode(client.context().get(), request, &response));
    fmt::print("removed node {}\n", response.node_id());
    return 0;
}

}  // namespace mesh::coord
