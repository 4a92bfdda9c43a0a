#include "coordinator/tls_identity.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>

#include "kmod-bridge/error.hpp"
#include "kmod-bridge/files.hpp"
#include "tls_pin.hpp"

namespace mesh::coord {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

void openssl_check(bool ok, const char* what) {
    if (!ok) throw Error(std::string("cannot make the TLS certificate: ") + what + " failed");
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(n));
}

void check_key_matches(const std::string& cert_pem, const std::string& key_pem) {
    BioPtr cb(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
    BioPtr kb(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    X509Ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    PkeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!cert) throw Error("the TLS certificate file holds no PEM certificate");
    if (!key) throw Error("the TLS key file holds no PEM private key (or it is encrypted)");
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        throw Error("the TLS key does not belong to the TLS certificate");
    }
}

}  // namespace

TlsIdentity make_self_signed_identity() {
    PkeyPtr key(EVP_EC_gen("P-256"));
    openssl_check(key != nullptr, "EC key generation");
    X509Ptr cert(X509_new());
    openssl_check(cert != nullptr, "X509_new");
    X509_set_version(cert.get(), 2);
    unsigned char serial[16];
    openssl_check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
    serial[0] &= 0x7f;  // a positive serial
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    openssl_check(bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())), "serial");
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 20L * 365 * 86400);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("mesh-coordinator"), -1, -1,
                               0);
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* san =
        X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:mesh-coordinator");
    openssl_check(san != nullptr, "subjectAltName");
    X509_add_ext(cert.get(), san, -1);
    X509_EXTENSION_free(san);
    openssl_check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "signing");

    BioPtr cert_bio(BIO_new(BIO_s_mem()));
    BioPtr key_bio(BIO_new(BIO_s_mem()));
    openssl_check(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1, "PEM certificate");
    openssl_check(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                           nullptr) == 1,
                  "PEM key");
    TlsIdentity id;
    id.cert_pem = bio_text(cert_bio.get());
    id.key_pem = bio_text(key_bio.get());
    id.fingerprint = tls::fingerprint_of_pem(id.cert_pem);
    id.created = true;
    return id;
}

TlsIdentity load_or_create_tls_identity(const std::string& state_dir, const std::string& cert_file,
                                        const std::string& key_file) {
    if (cert_file.empty() != key_file.empty()) {
        throw Error("give both --tls-cert and --tls-key, or neither (a self-signed one is made)");
    }
    TlsIdentity id;
    if (!cert_file.empty()) {
        id.cert_pem = kb::read_file(cert_file);
        id.key_pem = kb::read_file(key_file);
    } else {
        const std::string dir = state_dir + "/tls";
        const std::string cert_path = dir + "/cert.pem", key_path = dir + "/key.pem";
        const bool have_cert = std::filesystem::exists(cert_path);
        // The key is written (durably) before the certificate and nothing is served before
        // both are: a key without its certificate is a first start that crashed in between, a
        // certificate no agent ever pinned, so a new pair replaces it. A certificate without its
        // key is a deleted key: an error, since agents may pin that certificate.
        if (!have_cert) {
            kb::ensure_private_dir(dir);
            id = make_self_signed_identity();
            kb::write_file_atomic(key_path, id.key_pem, 0600);
            kb::write_file_atomic(cert_path, id.cert_pem, 0644);
            return id;
        }
        if (!std::filesystem::exists(key_path)) {
            throw Error(cert_path + " has no key beside it (" + key_path +
                        " is missing): restore it from a backup, or remove " + dir +
                        " to make a new certificate (every agent must then join again)");
        }
        kb::check_private_dir(dir);
        id.cert_pem = kb::read_file(cert_path);
        id.key_pem = kb::read_file(key_path);
    }
    check_key_matches(id.cert_pem, id.key_pem);
    id.fingerprint = tls::fingerprint_of_pem(id.cert_pem);
    return id;
}

}  // namespace mesh::coord
