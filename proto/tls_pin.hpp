#pragma once
// TLS between agents (or a remote operator) and the coordinator, authenticated by pinning: the
// client knows the SHA-256 fingerprint of the coordinator's certificate (carried in the join
// command) and accepts exactly that certificate, whoever signed it. No CA, no host names: the
// pin is the trust, so a self-signed certificate made on the coordinator's first start is enough.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace mesh::tls {

// "sha256:" + 64 lowercase hex digits, of the certificate's DER bytes.
std::string fingerprint_of_der(std::string_view der);
// Of the first certificate in a PEM text; throws mesh::Error when there is none.
std::string fingerprint_of_pem(std::string_view pem);

// Accepts "sha256:<64 hex>" (either case; colons between byte pairs allowed, as openssl prints
// them) and returns the canonical form. Throws mesh::Error with a message naming the expected
// shape.
std::string parse_fingerprint(std::string_view text);

// What the last handshake through a pinned channel saw, so a refusal can say what was found.
struct PinObservation {
    std::mutex mutex;
    std::string presented;  // fingerprint of the certificate the server presented; "" = none yet
    bool mismatch = false;
};

// Channel credentials that complete a TLS handshake only with a server presenting the certificate
// whose fingerprint is `pin`. `observed` (optional) records what was presented.
std::shared_ptr<grpc::ChannelCredentials> pinned_credentials(
    const std::string& pin, std::shared_ptr<PinObservation> observed = nullptr);

// A channel to address over pinned TLS. The TLS name asked for is the self-signed certificate's
// ("mesh-coordinator"), so gRPC's name matching, which the pin makes moot, has nothing to log.
std::shared_ptr<grpc::Channel> pinned_channel(const std::string& address, const std::string& pin,
                                              std::shared_ptr<PinObservation> observed = nullptr,
                                              grpc::ChannelArguments args = {});

// The one-line explanation for a refused pin, naming both fingerprints.
std::string mismatch_message(const std::string& pinned, const std::string& presented);

}  // namespace mesh::tls
