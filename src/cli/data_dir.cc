#include "cli/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fleetgate::cli {

Result<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return internalError("cannot read " + path.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Status writeNewFile(const std::filesystem::path& path, std::string_view content, unsigned mode) {
  if (std::filesystem::exists(path)) {
    return Error(ErrorKind::kResourceAlreadyExists, path.string() + " already exists; not overwriting it.");
  }
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return internalError("cannot create " + tmp.string());
  ::fchmod(fd, mode);  // the umask must not widen or narrow what we ask for
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n <= 0) {
      ::close(fd);
      return internalError("cannot write " + tmp.string());
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return internalError("cannot sync " + tmp.string());
  // link() fails if the target appeared meanwhile, so a concurrent init cannot be overwritten.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Error(ErrorKind::kResourceAlreadyExists, path.string() + " already exists; not overwriting it.");
  }
  ::unlink(tmp.c_str());
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
