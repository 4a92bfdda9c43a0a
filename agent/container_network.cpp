#include "agent/container_network.hpp"

#include <nftables/libnftables.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "agent/masquerade_rules.hpp"
#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "kmod-bridge/rtnl.hpp"
#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::agent {

namespace {

std::string joined(const std::vector<kb::IpPrefix>& prefixes) {
    std::string out;
    for (const auto& p : prefixes) out += (out.empty() ? "" : ",") + p.to_string();
    return out.empty() ? "none" : out;
}

bool has_family(const std::vector<kb::IpPrefix>& prefixes, bool v4) {
    for (const auto& p : prefixes) {
        if (p.address.is_v4() == v4) return true;
    }
    return false;
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// Writes "1" to a sysctl under /proc/sys unless it holds it already.
void enable_sysctl(const std::string& path) {
    {
        std::ifstream in(path);
        std::string value;
        if (in && std::getline(in, value) && value == "1") return;
    }
    std::ofstream out(path);
    out << "1\n";
    out.close();
    if (!out) throw Error("cannot enable " + path + ": " + std::strerror(errno));
    spdlog::info("event=sysctl_set path={} value=1", path);
}

// Every part is tried; the first failure is rethrown once the others ran.
class FirstFailure {
  public:
    template <typename F>
    void attempt(F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            if (message_.empty()) message_ = e.what();
        }
    }
    void rethrow() const {
        if (!message_.empty()) throw Error(message_);
    }

  private:
    std::string message_;
};

}  // namespace

void run_nft(const std::string& script) {
    std::unique_ptr<nft_ctx, decltype(&nft_ctx_free)> ctx(nft_ctx_new(NFT_CTX_DEFAULT),
                                                          &nft_ctx_free);
    if (!ctx) throw Error("nftables: cannot create a context");
    nft_ctx_buffer_output(ctx.get());
    nft_ctx_buffer_error(ctx.get());
    if (nft_run_cmd_from_buffer(ctx.get(), script.c_str()) != 0) {
        std::string message = nft_ctx_get_error_buffer(ctx.get());
        while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
            message.pop_back();
        }
        throw Error("nftables refused the container masquerade rules: " + message);
    }
}

ContainerNetwork::ContainerNetwork(ContainerNetworkOptions options)
    : options_(std::move(options)) {}

void ContainerNetwork::apply(const ContainerPlan& plan, unsigned mtu) {
    FirstFailure failure;
    failure.attempt([&] { apply_routes(plan); });
    failure.attempt([&] { apply_forwarding(plan); });
    failure.attempt([&] { apply_masquerade(plan); });
    failure.attempt([&] { apply_conflist(plan, mtu); });
    failure.rethrow();
}

void ContainerNetwork::apply_routes(const ContainerPlan& plan) {
    auto desired = peer_routes(plan);
    const auto now = std::chrono::steady_clock::now();
    if (routes_ && *routes_ == desired && now - routes_checked_ < kRouteCheck) return;
    routes_.reset();  // until this apply completes
    kb::Rtnl rtnl;
    auto current = rtnl.routes(options_.mesh_interface, kRouteProtocol);
    routes_checked_ = now;
    auto changes = route_changes(desired, current);
    if (changes.empty()) {
        routes_ = std::move(desired);
        return;
    }
    for (const auto& p : changes.remove) rtnl.del_route(p, options_.mesh_interface);
    for (const auto& p : changes.add) rtnl.add_route(p, options_.mesh_interface, kRouteProtocol);
    spdlog::info("event=container_routes interface={} added={} removed={} total={}",
                 options_.mesh_interface, joined(changes.add), joined(changes.remove),
                 desired.size());
    routes_ = std::move(desired);
}

// Packets for the host's containers arrive on the mesh interface and leave on the bridge, and
// back: IPv4 forwarding is turned on for those two interfaces only (conf/IF/forwarding decides
// for packets received on IF). IPv6 has no per-interface switch that forwards, so an IPv6
// subnet needs conf/all/forwarding. Nothing is turned off again: a running container keeps its
// connectivity while the agent restarts.
void ContainerNetwork::apply_forwarding(const ContainerPlan& plan) {
    if (plan.own.empty()) return;
    const std::string v4 = "/proc/sys/net/ipv4/conf/";
    if (has_family(plan.own, true)) {
        if (!mesh_forwarding_) {
            enable_sysctl(v4 + options_.mesh_interface + "/forwarding");
            mesh_forwarding_ = true;
        }
        // The bridge appears with the first container the runtime attaches.
        if (!bridge_forwarding_ && path_exists(v4 + options_.cni.bridge)) {
            enable_sysctl(v4 + options_.cni.bridge + "/forwarding");
            bridge_forwarding_ = true;
        }
    }
    if (has_family(plan.own, false) && !ipv6_forwarding_ && path_exists("/proc/sys/net/ipv6")) {
        enable_sysctl("/proc/sys/net/ipv6/conf/all/forwarding");
        ipv6_forwarding_ = true;
    }
}

void ContainerNetwork::apply_masquerade(const ContainerPlan& plan) {
    if (!options_.masquerade) return;
    if (masquerade_for_ && *masquerade_for_ == plan.own) return;
    bool first = !masquerade_for_;
    if (plan.own.empty()) {
        try {
            run_nft(masquerade_removal(options_.mesh_interface));
        } catch (const Error& e) {
            // A host without nf_tables never had the table: nothing to clear.
            if (!first) throw;
            spdlog::debug("event=masquerade_clear_skipped error={}", kb::log_quote(e.what()));
        }
        if (!first) {
            spdlog::info("event=masquerade_removed table=inet/{}",
                         masquerade_table(options_.mesh_interface));
        }
    } else {
        run_nft(masquerade_ruleset(options_.mesh_interface, options_.cni.bridge, plan.own));
        spdlog::info("event=masquerade_applied table=inet/{} subnets={}",
                     masquerade_table(options_.mesh_interface), joined(plan.own));
    }
    masquerade_for_ = plan.own;
}

void ContainerNetwork::apply_conflist(const ContainerPlan& plan, unsigned mtu) {
    if (options_.cni_conf_dir.empty()) return;
    auto path = cni_conflist_path(options_.cni_conf_dir, options_.cni.network_name);
    std::string text;
    if (!plan.own.empty()) {
        auto settings = options_.cni;
        settings.mtu = mtu;
        text = cni_conflist(settings, plan.own);
    }
    if (conflist_ && *conflist_ == text) return;
    if (text.empty()) {
        if (path_exists(path)) {
            std::string existing;
            try {
                existing = kb::read_file(path);
            } catch (const Error&) {
            }
            if (is_our_conflist(existing, options_.cni.network_name)) {
                if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
                    throw Error("cannot remove " + path + ": " + std::strerror(errno));
                }
                spdlog::info("event=cni_config_removed path={}", path);
            } else {
                spdlog::warn("event=cni_config_left path={} reason=not_written_by_this_agent",
                             path);
            }
        }
    } else {
        std::error_code ec;
        std::filesystem::create_directories(options_.cni_conf_dir, ec);
        if (ec) {
            throw Error("cannot create the CNI configuration directory " + options_.cni_conf_dir +
                        ": " + ec.message());
        }
        if (path_exists(path)) {
            std::string existing;
            try {
                existing = kb::read_file(path);
            } catch (const Error&) {
            }
            if (!is_our_conflist(existing, options_.cni.network_name)) {
                throw Error(path +
                            " exists and was not written by this agent; move it away or "
                            "choose another --cni-network-name");
            }
        }
        kb::write_file_if_changed(path, text, 0644);
        spdlog::info("event=cni_config_written path={} subnets={}", path, joined(plan.own));
    }
    conflist_ = text;
}

}  // namespace mesh::agent
