#include "pki/key_pool.h"

#include <chrono>

#include "pki/openssl_util.h"

namespace fleetgate::pki {

KeyPool::KeyPool(KeyType type, std::size_t capacity) : type_(type), capacity_(capacity) {
  if (capacity_ > 0) filler_ = std::thread(&KeyPool::fillLoop, this);
}

KeyPool::~KeyPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (filler_.joinable()) filler_.join();
}

Result<PrivateKey> KeyPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!ready_.empty()) {
      PrivateKey key = std::move(ready_.front());
      ready_.pop_front();
      wake_.notify_all();
      return key;
    }
  }
  return PrivateKey::generate(type_);
}

std::size_t KeyPool::available() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

void KeyPool::fillLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (ready_.size() >= capacity_) {
      wake_.wait(lock, [this] { return stopping_ || ready_.size() < capacity_; });
      continue;
    }
    lock.unlock();
    Result<PrivateKey> key = internal::generateKey(type_, &stopping_);
    lock.lock();
    if (key.ok()) {
      if (!stopping_) ready_.push_back(std::move(key).value());
    } else if (!stopping_) {
      // Generation only fails when OpenSSL is broken; retry slowly instead of spinning.
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
    }
  }
}

}  // namespace fleetgate::pki
