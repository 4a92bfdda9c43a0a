#pragma once
// The fixed world of service_requests_fuzz, shared with make_corpus.cpp so the seeds carry
// tokens, keys and signatures the harness's coordinator knows: join tokens with fixed texts,
// and machine keys made from fixed seeds (real Ed25519 keys, libsodium's seed keypair), so a
// seed's machine_signature verifies in every run.
#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>

#include "proto/sync_proof.hpp"

namespace mesh::fuzz_fixture {

constexpr std::int64_t kNow = 1'800'000'000;
// The coordinator the fixture's proofs name (its certificate's fingerprint).
inline const std::string kCoordinatorFingerprint = "sha256:" + std::string(64, 'c');

// The join tokens the store holds ("mesh1_" id "_" secret).
inline std::string token_text(char id_digit, char secret_digit) {
    return "mesh1_" + std::string(16, id_digit) + "_" + std::string(48, secret_digit);
}
// Reusable, unlimited, tags {prod, web}.
inline const std::string kTokenValid =
    "mesh1_0123456789abcdef_00112233445566778899aabbccddeeff0011223344556677";
inline const std::string kTokenRevoked = token_text('1', 'a');
inline const std::string kTokenExpired = token_text('2', 'b');
// Single use, ephemeral, no tags: the first join uses it up.
inline const std::string kTokenSingle = token_text('3', 'c');

// The machines the harness holds the keys of. The fixture joins web, db, old (then expires its
// key) and gone (then removes it); the others are free for the inputs to join.
enum Machine : int { kWeb, kDb, kOld, kGone, kNew1, kNew2, kNew3, kNew4, kMachines };
inline const char* const kHostnames[kMachines] = {"web",  "db",   "old",  "gone",
                                                  "new1", "new2", "new3", "new4"};

struct MachineKey {
    std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> public_key{};
    std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secret_key{};

    explicit MachineKey(int index) {
        std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
        seed.fill(static_cast<unsigned char>(0xa0 + index));
        crypto_sign_seed_keypair(public_key.data(), secret_key.data(), seed.data());
    }
    std::string public_bytes() const {
        return std::string(reinterpret_cast<const char*>(public_key.data()), public_key.size());
    }
    std::string sign(const std::string& message) const {
        std::string sig(crypto_sign_BYTES, '\0');
        crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                             secret_key.data());
        return sig;
    }
    // What an honest agent puts in JoinRequest.machine_signature.
    std::string sign_join(const std::string& token, const std::string& wireguard_key) const {
        return sign(v1::join_proof_message(kCoordinatorFingerprint, token, wireguard_key));
    }
};

// A machine's first WireGuard public key (any 32 bytes will do for the coordinator).
inline std::string wireguard_key(int machine) {
    return std::string(32, static_cast<char>(0x10 + machine));
}

// The harness's input: the first byte picks the handler, the rest is a sequence of frames, each
// a 2-byte little-endian length and that many bytes of one message.
//   byte 0 bit 0: 0 = Join (each frame a JoinRequest), 1 = Sync (each frame a SyncRequest)
//   Join, bit 1: sign each request as an honest agent would (when its machine key is one above)
//   Sync, bits 1-2: the stream: 0 web's, 1 old's (key expired), 2 gone's (removed), 3 an older
//                   stream of web's that a newer one replaced
constexpr std::uint8_t kSync = 1;
constexpr std::uint8_t kSignJoin = 2;
constexpr int kMaxFrames = 16;

inline std::string frame(const std::string& message) {
    std::string out;
    out.push_back(static_cast<char>(message.size() & 0xff));
    out.push_back(static_cast<char>(message.size() >> 8));
    return out + message;
}

}  // namespace mesh::fuzz_fixture
