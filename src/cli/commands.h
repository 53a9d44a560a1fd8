#pragma once

#include <optional>
#include <string>

#include "cli/data_dir.h"

namespace fleetgate::cli {

struct InitOptions {
  std::string data_dir;
  std::optional<std::string> account_id;
  std::optional<std::string> region;
  std::optional<std::string> endpoint_prefix;
  std::optional<std::string> access_key_id;
  std::optional<std::string> secret_access_key;
  std::optional<std::string> domain;
  std::string ca_key_type = "ec";      // device CA: ec | rsa
  std::optional<std::string> issued_key_type;  // CreateKeysAndCertificate: rsa (default) | ec
  std::optional<int> api_port;
  std::optional<std::string> secrets_key_file;  // default: <data-dir>/secrets.key
};
int runInit(const InitOptions& options);

struct ServeOptions {
  std::string data_dir;
  std::optional<std::string> api_bind_address;
  std::optional<int> api_port;
  // JSON {"api": port, "mqtt": port, "mqtt_alpn": port} of the bound ports is written here.
  std::optional<std::string> port_file;
  int threads = 0;
  std::optional<std::string> mqtt_bind_address;  // default: the API's address
  int mqtt_port = 8883;                          // 0: any free port; -1: off
  int mqtt_alpn_port = 443;                      // MQTT by ALPN x-amzn-mqtt-ca; 0: any; -1: off
  int mqtt_workers = 0;                          // 0: one per core
  bool require_sni = false;  // refuse devices that do not name an account endpoint in SNI
  std::size_t key_pool_size = 16;
  std::optional<std::string> secrets_key_file;
};
int runServe(const ServeOptions& options);

struct AccountOptions {
  std::string data_dir;
  std::string account_id;
  std::optional<std::string> region;
  std::optional<std::string> endpoint_prefix;
  std::optional<std::string> access_key_id;
  std::optional<std::string> secret_access_key;
  bool yes = false;  // skip the confirmation prompt
  std::optional<std::string> secrets_key_file;
};
int runAccountCreate(const AccountOptions& options);
int runAccountList(const AccountOptions& options);
int runAccountReset(const AccountOptions& options);
int runAccountDelete(const AccountOptions& options);

struct SecretsOptions {
  std::string data_dir;
  std::optional<std::string> secrets_key_file;
};
// Seals every stored secret under a new key and drops the old one (offline, like account reset).
int runSecretsRotateKey(const SecretsOptions& options);

}  // namespace fleetgate::cli
