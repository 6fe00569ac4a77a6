// The fake API server's TLS identity: a certificate authority of its own and,
// signed by it, a serving certificate for 127.0.0.1 and localhost, as
// kubeadm sets up a cluster. Clients trust the CA (the kubeconfig's
// certificate-authority-data); the CA's key is dropped once it has signed.
#pragma once

#include <string>

#include "core/status.h"

namespace portflow::fake {

struct ServingCertificate {
  std::string ca_pem;    // what clients trust
  std::string cert_pem;  // the server's certificate, then the CA's
  std::string key_pem;   // the server's private key
};

// A new CA and serving certificate: ECDSA P-256 keys, SHA-256 signatures,
// valid from an hour ago for a year, random serial numbers.
Result<ServingCertificate> NewServingCertificate();

}  // namespace portflow::fake
