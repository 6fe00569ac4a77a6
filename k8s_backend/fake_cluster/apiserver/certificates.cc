#include "k8s_backend/fake_cluster/apiserver/certificates.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <utility>
#include <vector>

namespace portflow::fake {
namespace {

template <auto Free>
struct Freer {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using Key = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY_free>>;
using Certificate = std::unique_ptr<X509, Freer<X509_free>>;
using Bio = std::unique_ptr<BIO, Freer<BIO_free>>;
using Extensions = std::vector<std::pair<int, const char*>>;

Key NewKey() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")); }

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool SetRandomSerial(X509* cert) {
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return false;
  serial[0] &= 0x7f;  // a positive number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

// A certificate for `key`, named `common_name`, signed by `issuer` with
// `issuer_key` (itself and `key` when `issuer` is null: a self-signed CA).
Certificate Issue(const char* common_name, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                  const Extensions& extensions) {
  Certificate cert(X509_new());
  if (!cert) return nullptr;
  X509* c = cert.get();
  X509_NAME* name = X509_get_subject_name(c);
  bool ok = SetRandomSerial(c) && X509_set_version(c, 2) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(c), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(c), 365L * 24 * 3600) != nullptr &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(common_name), -1, -1,
                                       0) == 1 &&
            X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
            X509_set_pubkey(c, key) == 1;
  for (const auto& [nid, value] : extensions) {
    ok = ok && AddExtension(c, issuer ? issuer : c, nid, value);
  }
  ok = ok && X509_sign(c, issuer_key, EVP_sha256()) > 0;
  if (!ok) return nullptr;
  return cert;
}

template <class Write>
std::string Pem(Write write) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return "";
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string CertificatePem(X509* cert) {
  return Pem([cert](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

}  // namespace

Result<ServingCertificate> NewServingCertificate() {
  Key ca_key = NewKey(), key = NewKey();
  if (!ca_key || !key) return Internal("cannot make a key for the fake cluster's certificate");
  Certificate ca = Issue("portflow-fake-ca", ca_key.get(), nullptr, ca_key.get(),
                         {{NID_basic_constraints, "critical,CA:TRUE"},
                          {NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"},
                          {NID_subject_key_identifier, "hash"}});
  if (!ca) return Internal("cannot make the fake cluster's certificate authority");
  Certificate serving = Issue("kube-apiserver", key.get(), ca.get(), ca_key.get(),
                              {{NID_basic_constraints, "critical,CA:FALSE"},
                               {NID_key_usage, "critical,digitalSignature"},
                               {NID_ext_key_usage, "serverAuth"},
                               {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                               {NID_subject_key_identifier, "hash"},
                               {NID_authority_key_identifier, "keyid:always"}});
  if (!serving) return Internal("cannot make the fake cluster's serving certificate");
  ServingCertificate out;
  out.ca_pem = CertificatePem(ca.get());
  out.cert_pem = CertificatePem(serving.get()) + out.ca_pem;
  out.key_pem = Pem([&key](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (out.ca_pem.empty() || out.key_pem.empty()) {
    return Internal("cannot write the fake cluster's certificate");
  }
  return out;
}

}  // namespace portflow::fake
