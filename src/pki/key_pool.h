#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "pki/key.h"

namespace fleetgate::pki {

// Keeps up to `capacity` freshly generated keys ready on a background thread, so requests
// that hand out a new key pair (RSA-2048 takes ~300 ms to generate) answer at once while the
// pool lasts. When it is empty, take() generates in the caller's thread.
class KeyPool {
 public:
  KeyPool(KeyType type, std::size_t capacity);
  ~KeyPool();
  KeyPool(const KeyPool&) = delete;
  KeyPool& operator=(const KeyPool&) = delete;

  Result<PrivateKey> take();
  std::size_t available() const;
  KeyType type() const { return type_; }

 private:
  void fillLoop();

  const KeyType type_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PrivateKey> ready_;
  // Atomic so an RSA generation in progress can poll it and abort when the pool stops.
  std::atomic<bool> stopping_{false};
  std::thread filler_;
};

}  // namespace fleetgate::pki
