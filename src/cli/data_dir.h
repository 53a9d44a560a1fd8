#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"
#include "pki/key.h"

namespace fleetgate::cli {

// Settings `fleetgate init` chose, kept in <data-dir>/fleetgate.json.
struct Config {
  std::string default_account_id;
  std::string region;
  std::string endpoint_prefix;  // of the default account
  std::string domain;
  std::string api_bind_address = "127.0.0.1";
  int api_port = 9443;
  // Key type CreateKeysAndCertificate hands out: AWS uses RSA-2048.
  pki::KeyType issued_key_type = pki::KeyType::kRsa2048;
};

// The files of a data directory. The directory and `pki/` are 0700, every file that holds a
// secret 0600, whatever the umask; private keys are only ever written once.
class DataDir {
 public:
  explicit DataDir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path configFile() const { return root_ / "fleetgate.json"; }
  std::filesystem::path databaseFile() const { return root_ / "registry.db"; }
  std::filesystem::path credentialsFile() const { return root_ / "aws-credentials"; }
  std::filesystem::path deviceCaCertificate() const { return root_ / "pki" / "device-ca.pem"; }
  std::filesystem::path deviceCaKey() const { return root_ / "pki" / "device-ca.key"; }
  std::filesystem::path serverRootCertificate() const { return root_ / "pki" / "server-root-ca.pem"; }
  std::filesystem::path serverRootKey() const { return root_ / "pki" / "server-root-ca.key"; }
  std::filesystem::path serverCertificate() const { return root_ / "pki" / "server.pem"; }
  std::filesystem::path serverKey() const { return root_ / "pki" / "server.key"; }
  std::filesystem::path lockFile() const { return root_ / "serve.lock"; }
  // The keyring that seals the registry's secrets, unless the operator keeps it elsewhere.
  std::filesystem::path secretsKeyFile() const { return root_ / "secrets.key"; }

  // Creates the directory and `pki/` (0700) if missing and tightens what exists: the
  // directories to 0700, the files that hold secrets to 0600.
  Status secure() const;

  bool initialized() const { return std::filesystem::exists(configFile()); }
  Result<Config> loadConfig() const;
  Status saveConfig(const Config& config) const;

 private:
  std::filesystem::path root_;
};

// Writes a file that must not exist yet (never overwrites), atomically, with the given mode.
Status writeNewFile(const std::filesystem::path& path, std::string_view content, unsigned mode);
// Replaces `path` atomically (write beside it, fsync, rename) with the given mode.
Status replaceFile(const std::filesystem::path& path, std::string_view content, unsigned mode);
Result<std::string> readFile(const std::filesystem::path& path);

// An exclusive advisory lock on the data directory, held by `serve` while it runs so offline
// admin commands can refuse to run beside it.
class DataDirLock {
 public:
  // nullopt when another process holds it.
  static Result<std::optional<DataDirLock>> tryAcquire(const DataDir& dir);
  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace fleetgate::cli
