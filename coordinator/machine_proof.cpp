#include "coordinator/machine_proof.hpp"

#include <sodium.h>

#include "coordinator/status_error.hpp"

namespace mesh::coord {

void verify_machine_signature(const Key& machine_key, const std::string& signature,
                              const std::string& message, const std::string& what) {
    if (signature.empty()) {
        throw StatusError(Code::unauthenticated,
                          what + " is missing: the machine key must sign it");
    }
    if (signature.size() != crypto_sign_BYTES ||
        crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                    reinterpret_cast<const unsigned char*>(message.data()),
                                    message.size(), machine_key.bytes.data()) != 0) {
        throw StatusError(Code::unauthenticated,
                          what +
                              " does not verify with the machine key for this coordinator (a "
                              "proof signed by another key, or made out for another "
                              "coordinator's certificate)");
    }
}

}  // namespace mesh::coord
