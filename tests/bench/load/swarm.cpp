#include "tests/bench/load/swarm.hpp"

#include <sodium.h>

#include <thread>

#include "sync_proof.hpp"
#include "tests/bench/load/wire_scan.hpp"
#include "tls_pin.hpp"

namespace mesh::load {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

// ---- IdTable, Bitset ---------------------------------------------------------------------------

namespace {

// A node id "n-" + 16 hex digits as its number (no allocation per lookup: the generator looks up
// every peer of every message); any other id by its hash.
std::uint64_t id_key(std::string_view id) {
    if (id.size() == 18 && id[0] == 'n' && id[1] == '-') {
        std::uint64_t v = 0;
        bool hex = true;
        for (char c : id.substr(2)) {
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) {
                hex = false;
                break;
            }
            v = v << 4 | static_cast<std::uint64_t>(d);
        }
        if (hex) return v;
    }
    return std::hash<std::string_view>{}(id);
}

}  // namespace

int IdTable::index(std::string_view id) {
    const std::uint64_t key = id_key(id);
    auto& shard = shards_[key % kShards];
    {
        std::shared_lock lock(shard.mutex);
        auto it = shard.ids.find(key);
        if (it != shard.ids.end()) return it->second;
    }
    std::unique_lock lock(shard.mutex);
    auto [it, inserted] = shard.ids.try_emplace(key, -1);
    if (inserted) {
        int i = next_++;
        it->second = static_cast<std::size_t>(i) < capacity_ ? i : -1;
    }
    return it->second;
}

std::size_t IdTable::size() const {
    return static_cast<std::size_t>(next_.load());
}

bool Bitset::set(int i) {
    auto& w = words_[static_cast<std::size_t>(i) / 64];
    std::uint64_t bit = std::uint64_t{1} << (i % 64);
    bool was = w & bit;
    w |= bit;
    return !was;
}

bool Bitset::clear(int i) {
    auto& w = words_[static_cast<std::size_t>(i) / 64];
    std::uint64_t bit = std::uint64_t{1} << (i % 64);
    bool was = w & bit;
    w &= ~bit;
    return was;
}

bool Bitset::test(int i) const {
    return words_[static_cast<std::size_t>(i) / 64] & (std::uint64_t{1} << (i % 64));
}

// ---- SimAgent ----------------------------------------------------------------------------------

namespace {

std::string sign(const unsigned char* sk, const std::string& message) {
    std::string sig(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         sk);
    return sig;
}

std::string flatten(const grpc::ByteBuffer& buffer) {
    std::vector<grpc::Slice> slices;
    std::string out;
    if (!buffer.Dump(&slices).ok()) return out;
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
}

}  // namespace

SimAgent::SimAgent(Swarm& swarm, int ordinal) : swarm_(swarm), ordinal_(ordinal) {
    crypto_sign_keypair(machine_pk_, machine_sk_);
    wg_key_.resize(32);
    randombytes_buf(wg_key_.data(), 32);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own, as agents
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 15000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    const auto& o = swarm.options();
    std::string target = o.address;
    fingerprint_ = o.fingerprint;
    if (!o.replicas.empty()) {
        const auto& r = o.replicas[static_cast<std::size_t>(ordinal) % o.replicas.size()];
        target = r.first;
        fingerprint_ = r.second;
    }
    channel_ = tls::pinned_channel(target, fingerprint_, nullptr, args);
    stub_ = v1::Coordinator::NewStub(channel_);
    const std::size_t n = swarm.options().agents + 1;
    peers_.resize(n);
    ready_.resize(n);
}

void SimAgent::join() {
    const auto& o = swarm_.options();
    join_request_.set_token(o.token);
    join_request_.set_wireguard_public_key(wg_key_);
    join_request_.set_machine_public_key(std::string(reinterpret_cast<char*>(machine_pk_), 32));
    join_request_.set_hostname("sim-" + std::to_string(ordinal_));
    // Distinct LAN-like candidates, as a host would report.
    join_request_.add_endpoints("10." + std::to_string(1 + ordinal_ / 65536 % 200) + "." +
                                std::to_string(ordinal_ / 256 % 256) + "." +
                                std::to_string(ordinal_ % 256) + ":51820");
    for (int e = 1; e < o.endpoints && e < 16; ++e) {
        char v6[64];
        std::snprintf(v6, sizeof v6, "[2001:db8:%x:%x:%x:%x:%x:%x]:%d", ordinal_ >> 16,
                      ordinal_ & 0xffff, e, 0xabcd, 0x1234, e, 40000 + e);
        join_request_.add_endpoints(v6);
    }
    join_request_.set_machine_signature(
        sign(machine_sk_, v1::join_proof_message(fingerprint_, o.token, wg_key_)));
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            done = true;
            return;
        }
        join_ctx_ = std::make_unique<grpc::ClientContext>();
        join_ctx_->set_deadline(std::chrono::system_clock::now() + o.join_deadline);
        join_ctx_->set_wait_for_ready(true);
        retry_pending_ = false;
    }
    join_response_.Clear();
    stub_->async()->Join(join_ctx_.get(), &join_request_, &join_response_, [this](grpc::Status s) {
        if (!s.ok()) {
            const bool transient = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                                   s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
            std::lock_guard lock(mutex_);
            if (transient && !stopping_ && ++join_attempts_ < 8) {
                const int base = std::min(10000, 500 << join_attempts_);
                retry_pending_ = true;
                swarm_.retry_later(
                    this, std::chrono::milliseconds(base / 2 +
                                                    static_cast<int>(randombytes_uniform(
                                                        static_cast<std::uint32_t>(base / 2)))));
                return;
            }
            final_status = s;
            ++swarm_.join_failures;
            done = true;
            return;
        }
        node_id = join_response_.node_id();
        if (join_response_.addresses_size() > 0) address = join_response_.addresses(0);
        self_index = swarm_.ids().index(node_id);
        swarm_.joined(ordinal_, self_index);
        joined_at = now_ns();
        joined = true;
        if (swarm_.options().sync) start_sync();
    });
}

SimAgent::~SimAgent() = default;

void SimAgent::start_sync() {
    std::lock_guard lock(mutex_);
    retry_pending_ = false;
    if (stopping_) {
        done = true;
        return;
    }
    if (!synced_ && !holds_sync_slot_) {
        if (!swarm_.enter_sync(this)) return;  // started again once a slot is free
        holds_sync_slot_ = true;
    }
    finished_.reset();
    call_ = std::make_unique<SyncCall>(*this);
    grpc::GenericStub generic(channel_);
    generic.PrepareBidiStreamingCall(&call_->ctx, "/mesh.v1.Coordinator/Sync", grpc::StubOptions(),
                                     call_.get());
    call_->StartRead(&call_->read_buffer);
    call_->StartCall();
}

void SyncCall::OnReadDone(bool ok) {
    if (!ok) return;  // the stream ends; OnDone follows
    agent_.on_read(*this, read_buffer);
    StartRead(&read_buffer);
}

void SyncCall::OnWriteDone(bool ok) {
    agent_.on_write_done(*this, ok);
}

void SyncCall::OnDone(const grpc::Status& status) {
    agent_.on_done(*this, status);
}

void SimAgent::queue_write(SyncCall& call, std::string bytes, bool ack) {
    // Under mutex_. Acks coalesce: only the newest waiting one is sent.
    if (ack) {
        call.pending_ack = version_;
    } else {
        call.queue.push_back(std::move(bytes));
    }
    if (!call.writing) write_next_locked(call);
}

void SimAgent::write_next_locked(SyncCall& call) {
    std::string next;
    if (!call.queue.empty()) {
        next = std::move(call.queue.front());
        call.queue.pop_front();
    } else if (call.pending_ack) {
        next = encode_ack(*call.pending_ack);
        call.pending_ack.reset();
    } else {
        return;
    }
    grpc::Slice slice(next);
    call.write_buffer = grpc::ByteBuffer(&slice, 1);
    call.writing = true;
    call.StartWrite(&call.write_buffer);
}

void SimAgent::report(const std::string& endpoint) {
    std::lock_guard lock(mutex_);
    if (call_) queue_write(*call_, encode_endpoints({endpoint}), false);
}

void SimAgent::resume() {
    if (joined) {
        start_sync();
    } else {
        join();
    }
}

void SimAgent::cancel() {
    std::lock_guard lock(mutex_);
    if (join_ctx_) join_ctx_->TryCancel();
    stopping_ = true;
    if (call_) {
        call_->ctx.TryCancel();
    } else if (!retry_pending_ && joined) {
        done = true;
    }
}

std::vector<int> SimAgent::not_ready(std::size_t max) const {
    std::lock_guard lock(mutex_);
    std::vector<int> out;
    const int n = static_cast<int>(swarm_.options().agents);
    for (int i = 0; i < n && out.size() < max; ++i) {
        if (i != self_index && peers_.test(i) && !ready_.test(i)) out.push_back(i);
    }
    return out;
}

bool SimAgent::streaming() const {
    std::lock_guard lock(mutex_);
    return call_ != nullptr;
}

bool SimAgent::finished() const {
    if (!joined) return done;  // the join failed (or was cancelled), or is still out
    return !swarm_.options().sync || done;
}

void SimAgent::on_read(SyncCall& call, const grpc::ByteBuffer& buffer) {
    std::string bytes = flatten(buffer);
    bytes_received += bytes.size();
    ++messages;
    std::lock_guard lock(mutex_);
    handle(call, bytes);
}

void SimAgent::on_write_done(SyncCall& call, bool ok) {
    std::lock_guard lock(mutex_);
    call.writing = false;
    if (ok) write_next_locked(call);
}

void SimAgent::on_done(SyncCall& call, const grpc::Status& status) {
    std::lock_guard lock(mutex_);
    final_status = status;
    in_full_ = false;
    if (call_.get() == &call) finished_ = std::move(call_);  // freed by the next stream
    if (holds_sync_slot_) {
        holds_sync_slot_ = false;
        swarm_.leave_sync();
    }
    if (stopping_) {
        done = true;
        return;
    }
    // As mesh-agent: reconnect with jittered exponential backoff, resuming from its version.
    ++reconnects;
    ++attempts_;
    const int base = std::min(2000, 50 << std::min(attempts_, 6));
    const int delay =
        base / 2 + static_cast<int>(randombytes_uniform(static_cast<std::uint32_t>(base / 2 + 1)));
    retry_pending_ = true;
    swarm_.retry_later(this, std::chrono::milliseconds(delay));
}

void SimAgent::handle(SyncCall& call, const std::string& bytes) {
    ScannedResponse m;
    if (!scan_response(bytes, m)) {
        ++order_errors;
        return;
    }
    const int n_peers = static_cast<int>(swarm_.options().agents) - 1;
    switch (m.kind) {
        case ScannedResponse::Kind::challenge:
            queue_write(call,
                        encode_hello(node_id,
                                     sign(machine_sk_,
                                          v1::sync_proof_message(fingerprint_, node_id, m.nonce)),
                                     synced_ ? version_ : 0),
                        false);
            return;
        case ScannedResponse::Kind::full:
            if (!in_full_) {
                peers_.reset();
                peers_known = 0;
                in_full_ = true;
                full_version_ = m.version;
            } else if (m.version != full_version_) {
                ++order_errors;
            }
            for (auto id : m.peers) {
                int i = swarm_.ids().index(id);
                if (i < 0 || i == self_index) ++order_errors;
                if (i >= 0 && peers_.set(i)) ++peers_known;
            }
            if (m.continued) return;
            in_full_ = false;
            version_ = m.version;
            if (!synced_ && swarm_.options().report_after_sync) {
                queue_write(call,
                            encode_endpoints({"198.51.100." + std::to_string(1 + ordinal_ % 250) +
                                              ":" + std::to_string(20000 + ordinal_ % 40000)}),
                            false);
            }
            synced_ = true;
            attempts_ = 0;
            if (holds_sync_slot_) {
                holds_sync_slot_ = false;
                swarm_.leave_sync();
            }
            break;
        case ScannedResponse::Kind::delta:
            if (!synced_ || m.from_version != version_ || m.version < m.from_version) {
                ++order_errors;
            }
            for (auto id : m.peers) {
                int i = swarm_.ids().index(id);
                if (i < 0 || i == self_index) {
                    ++order_errors;
                    continue;
                }
                if (peers_.set(i)) ++peers_known;
                swarm_.saw(ordinal_, i);
            }
            for (auto id : m.removed) {
                int i = swarm_.ids().index(id);
                if (i >= 0 && peers_.clear(i)) --peers_known;
            }
            version_ = m.version;
            attempts_ = 0;
            break;
        case ScannedResponse::Kind::ready:
            for (auto list : {&m.initiate, &m.respond}) {
                for (auto id : *list) {
                    int i = swarm_.ids().index(id);
                    if (i >= 0 && ready_.set(i)) ++peers_ready;
                }
            }
            if (peers_ready == n_peers && ready_at == 0) ready_at = now_ns();
            return;
        case ScannedResponse::Kind::none:
            return;
    }
    version = version_;
    if (peers_known == n_peers && complete_at == 0) complete_at = now_ns();
    queue_write(call, {}, true);
}

// ---- Swarm -------------------------------------------------------------------------------------

Swarm::Swarm(SwarmOptions options)
    : options_(std::move(options)), ids_(options_.agents), ordinal_by_index_(options_.agents) {
    trial_.seen_ns = std::vector<std::atomic<std::int64_t>>(options_.agents);
    for (auto& o : ordinal_by_index_) o = -1;
    agents_.reserve(options_.agents);
    for (std::size_t i = 0; i < options_.agents; ++i) {
        agents_.push_back(std::make_unique<SimAgent>(*this, static_cast<int>(i)));
    }
    retry_thread_ = std::thread([this] {
        std::unique_lock lock(retry_mutex_);
        while (!retry_stop_) {
            if (retries_.empty()) {
                retry_wake_.wait(lock);
                continue;
            }
            auto first = retries_.begin();
            if (first->first > Clock::now()) {
                retry_wake_.wait_until(lock, first->first);
                continue;
            }
            SimAgent* agent = first->second;
            retries_.erase(first);
            lock.unlock();
            agent->resume();
            lock.lock();
        }
        for (auto& [at, agent] : retries_) agent->done = true;  // stopping: no more streams
    });
}

void Swarm::retry_later(SimAgent* agent, std::chrono::milliseconds delay) {
    {
        std::lock_guard lock(retry_mutex_);
        retries_.emplace(Clock::now() + delay, agent);
    }
    retry_wake_.notify_all();
}

bool Swarm::enter_sync(SimAgent* agent) {
    if (options_.max_syncing == 0) return true;
    std::lock_guard lock(sync_slots_mutex_);
    if (syncing_ < options_.max_syncing) {
        ++syncing_;
        return true;
    }
    waiting_for_slot_.push_back(agent);
    return false;
}

void Swarm::leave_sync() {
    SimAgent* next = nullptr;
    {
        std::lock_guard lock(sync_slots_mutex_);
        if (syncing_ > 0) --syncing_;
        if (!waiting_for_slot_.empty()) {
            next = waiting_for_slot_.front();
            waiting_for_slot_.pop_front();
        }
    }
    if (next) retry_later(next, std::chrono::milliseconds(0));
}

Swarm::~Swarm() {
    for (auto& a : agents_) a->cancel();
    {
        std::lock_guard lock(retry_mutex_);
        retry_stop_ = true;
    }
    retry_wake_.notify_all();
    retry_thread_.join();
    // Every stream's OnDone, or its join's failure, before the agents go.
    auto deadline = Clock::now() + std::chrono::seconds(30);
    for (auto& a : agents_) {
        while (!a->finished() && Clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
}

void Swarm::start() {
    for (auto& a : agents_) a->join();
}

void Swarm::open_streams() {
    for (auto& a : agents_) {
        if (a->joined) a->start_sync();
    }
}

void Swarm::joined(int ordinal, int node_index) {
    if (node_index >= 0) ordinal_by_index_[static_cast<std::size_t>(node_index)] = ordinal;
}

int Swarm::ordinal_of(int node_index) const {
    if (node_index < 0 || static_cast<std::size_t>(node_index) >= ordinal_by_index_.size()) {
        return -1;
    }
    return ordinal_by_index_[static_cast<std::size_t>(node_index)];
}

void Swarm::saw(int receiver_ordinal, int changed_node_index) {
    if (trial_.mover.load(std::memory_order_relaxed) != changed_node_index) return;
    auto& slot = trial_.seen_ns[static_cast<std::size_t>(receiver_ordinal)];
    std::int64_t expected = 0;
    if (slot.compare_exchange_strong(expected, now_ns())) ++trial_.seen;
}

}  // namespace mesh::load
