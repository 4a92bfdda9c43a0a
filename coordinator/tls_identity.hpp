#pragma once
// The coordinator's TLS key and certificate. Given files are used as they are; otherwise a P-256
// key and a self-signed certificate are made on first start in STATE_DIR/tls/ (key 0600) and
// reused after. Agents pin the certificate's fingerprint, so it must stay the same across
// restarts: deleting STATE_DIR/tls/ makes every join command and every agent's pin stale.
#include <string>

namespace mesh::coord {

struct TlsIdentity {
    std::string cert_pem;
    std::string key_pem;
    std::string fingerprint;  // "sha256:<hex>" of the (first) certificate
    bool created = false;     // made on this start
};

// cert_file and key_file: both given, or both empty (self-signed in state_dir/tls).
TlsIdentity load_or_create_tls_identity(const std::string& state_dir, const std::string& cert_file,
                                        const std::string& key_file);

// A fresh P-256 key and a self-signed certificate for it (CN=mesh-coordinator, 20 years).
TlsIdentity make_self_signed_identity();

}  // namespace mesh::coord
