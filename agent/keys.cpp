#include "agent/keys.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"

namespace mesh::agent {

namespace {

const char* const kWireguardFile = "wireguard.key";
const char* const kMachineFile = "machine.key";

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string read_private(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error("cannot stat " + path);
    if ((st.st_mode & 077) != 0) {
        throw Error(path + " is readable by others (mode " + std::to_string(st.st_mode & 0777) +
                    "); run chmod 600 on it");
    }
    return trim(kb::read_file(path));
}

}  // namespace

Key wireguard_public_key(const Key& private_key) {
    Key clamped = private_key;
    clamped.bytes[0] &= 248;
    clamped.bytes[31] = (clamped.bytes[31] & 127) | 64;
    Key pub;
    crypto_scalarmult_base(pub.bytes.data(), clamped.bytes.data());
    return pub;
}

Keys Keys::generate() {
    Keys k;
    randombytes_buf(k.wireguard_private.bytes.data(), 32);
    k.wireguard_private.bytes[0] &= 248;
    k.wireguard_private.bytes[31] = (k.wireguard_private.bytes[31] & 127) | 64;
    k.wireguard_public = wireguard_public_key(k.wireguard_private);
    crypto_sign_keypair(k.machine_public.bytes.data(), k.machine_secret.data());
    return k;
}

void Keys::remove(const std::string& dir) {
    for (const char* name : {kMachineFile, kWireguardFile}) {
        const std::string path = dir + "/" + name;
        std::error_code error;
        std::filesystem::remove(path, error);
        if (error) throw Error("cannot delete " + path + ": " + error.message());
    }
}

std::optional<Keys> Keys::load(const std::string& dir, bool published) {
    const std::string wg_path = dir + "/" + kWireguardFile;
    const std::string machine_path = dir + "/" + kMachineFile;
    bool have_wg = std::filesystem::exists(wg_path);
    bool have_machine = std::filesystem::exists(machine_path);
    if (!have_wg && !have_machine) return std::nullopt;
    // Half a pair that no join ever used (a crash between the two writes of the first save):
    // nobody knows these keys, so the next join makes a fresh pair over them.
    if (have_wg != have_machine && !published) return std::nullopt;
    if (have_wg != have_machine) {
        throw Error("only one of " + wg_path + " and " + machine_path +
                    " exists; restore the other or remove both to start as a new machine");
    }
    Keys k;
    try {
        k.wireguard_private = Key::from_base64(read_private(wg_path));
    } catch (const Error& e) {
        throw Error(wg_path + ": " + e.what());
    }
    k.wireguard_public = wireguard_public_key(k.wireguard_private);
    Key seed;
    try {
        seed = Key::from_base64(read_private(machine_path));
    } catch (const Error& e) {
        throw Error(machine_path + ": " + e.what());
    }
    crypto_sign_seed_keypair(k.machine_public.bytes.data(), k.machine_secret.data(),
                             seed.bytes.data());
    sodium_memzero(seed.bytes.data(), seed.bytes.size());
    return k;
}

void Keys::save(const std::string& dir) const {
    kb::ensure_private_dir(dir);
    Key seed;
    crypto_sign_ed25519_sk_to_seed(seed.bytes.data(), machine_secret.data());
    std::string seed_text = seed.to_base64() + "\n";
    sodium_memzero(seed.bytes.data(), seed.bytes.size());
    // Each file is written only when it changes (a rotation rewrites the WireGuard key alone),
    // each durably before the next; the state that publishes them is written after both.
    try {
        kb::write_file_if_changed(dir + "/" + kMachineFile, seed_text, 0600);
    } catch (...) {
        sodium_memzero(seed_text.data(), seed_text.size());
        throw;
    }
    sodium_memzero(seed_text.data(), seed_text.size());
    kb::write_file_if_changed(dir + "/" + kWireguardFile, wireguard_private.to_base64() + "\n",
                              0600);
}

std::string Keys::sign(const std::string& message) const {
    std::string sig(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         machine_secret.data());
    return sig;
}

}  // namespace mesh::agent
