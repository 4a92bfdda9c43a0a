#include "tls_pin.hpp"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "kmod-bridge/error.hpp"

namespace mesh::tls {

namespace {

constexpr std::string_view kPrefix = "sha256:";

// gRPC loads the system's CA bundle for a TLS channel that names no trust anchor (~50 ms at a
// process's first connection). The pin replaces chain checks, so the channel gets this anchor
// instead: a self-signed certificate whose private key was discarded when it was made, and which
// is never consulted (verify_server_certs is off).
constexpr const char* kPlaceholderAnchor =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBxzCCAW2gAwIBAgIUdis2l3ProwqTtcgG90fmonT9ExMwCgYIKoZIzj0EAwIw\n"
    "ODE2MDQGA1UEAwwtbWVzaCBwbGFjZWhvbGRlciB0cnVzdCBhbmNob3IgKGtleSBk\n"
    "aXNjYXJkZWQpMCAXDTI2MTIwMTIwMjYzMFoYDzIxMjYxMTA3MjAyNjMwWjA4MTYw\n"
    "NAYDVQQDDC1tZXNoIHBsYWNlaG9sZGVyIHRydXN0IGFuY2hvciAoa2V5IGRpc2Nh\n"
    "cmRlZCkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARSWUN8gRBsYe7/SjYonGt5\n"
    "s3/FBZD9ObKZDZ4rH/L3THeKBdWtC+4tH7iyau7Yv2O8NLNySKOxFOB0juM/xsbZ\n"
    "o1MwUTAdBgNVHQ4EFgQUxI0Bn1KniiKYKh8TdXYp+i2yIukwHwYDVR0jBBgwFoAU\n"
    "xI0Bn1KniiKYKh8TdXYp+i2yIukwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD\n"
    "AgNIADBFAiEA1Df6QGTvOU0e2T4Bm677Qgr8s7DtZLsItH5JQjB3ed0CIDShgUzE\n"
    "9hA597PDa3vB3w02NUdUGy91M3NS+dTCtSXV\n"
    "-----END CERTIFICATE-----\n";

std::string to_hex(const unsigned char* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

// Compares the presented certificate with the pin. Runs inside gRPC's handshake; synchronous.
class PinVerifier final : public grpc::experimental::ExternalCertificateVerifier {
  public:
    PinVerifier(std::string pin, std::shared_ptr<PinObservation> observed)
        : pin_(std::move(pin)), observed_(std::move(observed)) {}

    bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
                std::function<void(grpc::Status)>, grpc::Status* sync_status) override {
        auto pem = request->peer_cert();
        std::string presented;
        try {
            presented = fingerprint_of_pem(std::string_view(pem.data(), pem.size()));
        } catch (const Error&) {
            presented.clear();
        }
        bool ok = !presented.empty() && presented == pin_;
        if (observed_) {
            std::lock_guard lock(observed_->mutex);
            observed_->presented = presented;
            observed_->mismatch = !ok;
        }
        *sync_status =
            ok ? grpc::Status::OK
               : grpc::Status(grpc::StatusCode::UNAUTHENTICATED, mismatch_message(pin_, presented));
        return true;  // decided synchronously
    }
    void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

  private:
    std::string pin_;
    std::shared_ptr<PinObservation> observed_;
};

}  // namespace

std::string fingerprint_of_der(std::string_view der) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
    return std::string(kPrefix) + to_hex(digest, sizeof digest);
}

std::string fingerprint_of_pem(std::string_view pem) {
    if (pem.empty()) throw Error("no PEM certificate found (empty)");
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) throw Error("out of memory reading a certificate");
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!cert) throw Error("no PEM certificate found");
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    X509_free(cert);
    if (len <= 0) throw Error("the certificate cannot be encoded");
    std::string out = fingerprint_of_der(std::string_view(reinterpret_cast<char*>(der), len));
    OPENSSL_free(der);
    return out;
}

std::string parse_fingerprint(std::string_view text) {
    const std::string shape =
        "a certificate fingerprint looks like sha256:<64 hex digits>, as `mesh-coordinator token "
        "create` prints it";
    if (text.size() > 200) throw Error("the fingerprint is too long; " + shape);
    std::string lowered;
    for (char c : text) lowered += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lowered.compare(0, kPrefix.size(), kPrefix) != 0) {
        throw Error("the fingerprint '" + std::string(text.substr(0, 80)) + "' lacks 'sha256:'; " +
                    shape);
    }
    std::string hex;
    for (size_t i = kPrefix.size(); i < lowered.size(); ++i) {
        char c = lowered[i];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
            hex += c;
        } else if (c != ':') {
            throw Error("the fingerprint has a character that is not a hex digit; " + shape);
        }
    }
    if (hex.size() != 64) {
        throw Error("the fingerprint has " + std::to_string(hex.size()) + " hex digits, not 64; " +
                    shape);
    }
    return std::string(kPrefix) + hex;
}

std::shared_ptr<grpc::ChannelCredentials> pinned_credentials(
    const std::string& pin, std::shared_ptr<PinObservation> observed) {
    grpc::experimental::TlsChannelCredentialsOptions options;
    // The pin replaces chain and host-name checks: the certificate is self-signed and the
    // coordinator is reached by whatever address the operator gave.
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(kPlaceholderAnchor));
    options.watch_root_certs();
    options.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<PinVerifier>(pin, observed));
    return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::Channel> pinned_channel(const std::string& address, const std::string& pin,
                                              std::shared_ptr<PinObservation> observed,
                                              grpc::ChannelArguments args) {
    args.SetSslTargetNameOverride("mesh-coordinator");
    return grpc::CreateCustomChannel(address, pinned_credentials(pin, std::move(observed)), args);
}

std::string mismatch_message(const std::string& pinned, const std::string& presented) {
    return "the coordinator presented certificate " +
           (presented.empty() ? std::string("(none readable)") : presented) + ", not the pinned " +
           pinned +
           ": refusing to talk to it (a wrong address, a re-created coordinator state "
           "directory, or someone in between); get a fresh join command from the operator";
}

}  // namespace mesh::tls
