#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fleetgate::cli {

Result<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return environmentError("cannot read " + path.string(), errno);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

namespace {

// Writes `content` to `path` + ".tmp" with `mode` (the umask neither widens nor narrows it) and
// syncs it; returns the temporary's path.
Result<std::filesystem::path> writeTemporary(const std::filesystem::path& path,
                                             std::string_view content, unsigned mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return environmentError("cannot create " + tmp.string(), errno);
  if (::fchmod(fd, mode) != 0) {
    const int saved = errno;
    ::close(fd);
    return environmentError("cannot set the mode of " + tmp.string(), saved);
  }
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return environmentError("cannot write " + tmp.string(), saved);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return environmentError("cannot sync " + tmp.string(), saved);
  }
  return tmp;
}

}  // namespace

Status writeNewFile(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  if (std::filesystem::exists(path)) {
    return Error(ErrorKind::kResourceAlreadyExists, path.string() + " already exists; not overwriting it.");
  }
  FG_ASSIGN_OR_RETURN(auto tmp, writeTemporary(path, content, mode));
  // link() fails if the target appeared meanwhile, so a concurrent init cannot be overwritten.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    if (saved != EEXIST) return environmentError("cannot create " + path.string(), saved);
    return Error(ErrorKind::kResourceAlreadyExists, path.string() + " already exists; not overwriting it.");
  }
  ::unlink(tmp.c_str());
  return {};
}

Status replaceFile(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  FG_ASSIGN_OR_RETURN(auto tmp, writeTemporary(path, content, mode));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return environmentError("cannot replace " + path.string(), saved);
  }
  return {};
}

Status DataDir::secure() const {
  std::error_code ec;
  if (root_.has_parent_path()) std::filesystem::create_directories(root_.parent_path(), ec);
  if (ec) {
    return environmentError("cannot create the directory " + root_.parent_path().string() + ": " +
                            ec.message());
  }
  for (const auto& dir : {root_, root_ / "pki"}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return environmentError("cannot create the directory " + dir.string(), errno);
    }
    if (::chmod(dir.c_str(), 0700) != 0) {
      return environmentError("cannot make " + dir.string() + " private (0700)", errno);
    }
  }
  // Files that hold a secret, or whose contents tell what the registry holds.
  const std::filesystem::path secret_files[] = {
      databaseFile(), std::filesystem::path(databaseFile()) += "-wal",
      std::filesystem::path(databaseFile()) += "-shm", credentialsFile(), secretsKeyFile(),
      deviceCaKey(), serverRootKey(), serverKey(), lockFile()};
  for (const auto& file : secret_files) {
    if (::chmod(file.c_str(), 0600) != 0 && errno != ENOENT) {
      return environmentError("cannot make " + file.string() + " private (0600)", errno);
    }
  }
  return {};
}

Result<Config> DataDir::loadConfig() const {
  FG_ASSIGN_OR_RETURN(std::string text, readFile(configFile()));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return internalError(configFile().string() + " is not a JSON object");
  Config c;
  try {
    c.default_account_id = j.at("defaultAccountId").get<std::string>();
    c.region = j.at("region").get<std::string>();
    c.endpoint_prefix = j.at("endpointPrefix").get<std::string>();
    c.domain = j.at("domain").get<std::string>();
    c.api_bind_address = j.value("apiBindAddress", c.api_bind_address);
    c.api_port = j.value("apiPort", c.api_port);
    c.issued_key_type = j.value("issuedKeyType", std::string("rsa")) == "ec"
                            ? pki::KeyType::kEcP256
                            : pki::KeyType::kRsa2048;
  } catch (const nlohmann::json::exception& e) {
    return internalError(configFile().string() + ": " + e.what());
  }
  return c;
}

Status DataDir::saveConfig(const Config& c) const {
  nlohmann::json j{{"defaultAccountId", c.default_account_id},
                   {"region", c.region},
                   {"endpointPrefix", c.endpoint_prefix},
                   {"domain", c.domain},
                   {"apiBindAddress", c.api_bind_address},
                   {"apiPort", c.api_port},
                   {"issuedKeyType", c.issued_key_type == pki::KeyType::kEcP256 ? "ec" : "rsa"}};
  return writeNewFile(configFile(), j.dump(2) + "\n", 0644);
}

Result<std::optional<DataDirLock>> DataDirLock::tryAcquire(const DataDir& dir) {
  int fd = ::open(dir.lockFile().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return internalError("cannot open " + dir.lockFile().string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return std::optional<DataDirLock>();
  }
  return std::optional<DataDirLock>(DataDirLock(fd));
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace fleetgate::cli
