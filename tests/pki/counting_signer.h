#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "pki/signer.h"

namespace fleetgate::pki::testing {

// A Signer test double: counts what it is asked to sign and delegates to a software key it
// owns, so whoever holds only this object demonstrably signs without the private key.
class CountingSigner final : public Signer {
 public:
  static std::shared_ptr<CountingSigner> generate(KeyType type) {
    auto key = PrivateKey::generate(type);
    if (!key.ok()) return nullptr;
    return std::make_shared<CountingSigner>(std::move(key).value());
  }
  explicit CountingSigner(PrivateKey key) : delegate_(std::move(key)) {}

  std::string publicKeyDer() const override { return delegate_.publicKeyDer(); }
  SignatureAlgorithm algorithm() const override { return delegate_.algorithm(); }
  Result<std::string> sign(std::string_view data) const override {
    ++calls_;
    return delegate_.sign(data);
  }

  int calls() const { return calls_; }

 private:
  SoftwareSigner delegate_;
  mutable std::atomic<int> calls_{0};
};

}  // namespace fleetgate::pki::testing
