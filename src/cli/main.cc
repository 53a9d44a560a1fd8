// fleetgate: the composition root. Parses the command line and hands over to one command.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace fleetgate::cli;
  CLI::App app{"fleetgate: a self-hosted, AWS IoT compatible device identity and provisioning plane"};
  app.require_subcommand(1);

  InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "Create a data directory (idempotent; never overwrites)");
  init_cmd->add_option("--data-dir", init.data_dir, "Data directory")->required();
  init_cmd->add_option("--account-id", init.account_id, "Default account id (12 digits)");
  init_cmd->add_option("--region", init.region, "Region of the default account (us-east-1)");
  init_cmd->add_option("--endpoint-prefix", init.endpoint_prefix, "Endpoint prefix of the default account");
  init_cmd->add_option("--access-key-id", init.access_key_id, "Admin access key id");
  init_cmd->add_option("--secret-access-key", init.secret_access_key, "Admin secret access key");
  init_cmd->add_option("--domain", init.domain, "Domain of device endpoints (localhost)");
  init_cmd->add_option("--ca-key-type", init.ca_key_type, "Device CA key: ec or rsa")
      ->check(CLI::IsMember({"ec", "rsa"}));
  init_cmd->add_option("--issued-key-type", init.issued_key_type,
                       "Key type of CreateKeysAndCertificate: rsa (like AWS) or ec")
      ->check(CLI::IsMember({"ec", "rsa"}));
  init_cmd->add_option("--api-port", init.api_port, "Control plane port (9443)")
      ->check(CLI::Range(1, 65535));
  constexpr const char* kSecretsKeyHelp =
      "Key file that seals the registry's secrets (default: <data-dir>/secrets.key)";
  init_cmd->add_option("--secrets-key-file", init.secrets_key_file, kSecretsKeyHelp);

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the control plane");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory")->required();
  serve_cmd->add_option("--api-bind", serve.api_bind_address, "Control plane address");
  serve_cmd->add_option("--api-port", serve.api_port, "Control plane port; 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--port-file", serve.port_file,
                        "Write the bound ports here as JSON {\"api\",\"mqtt\",\"mqtt_alpn\"}");
  serve_cmd->add_option("--mqtt-bind", serve.mqtt_bind_address, "MQTT address (default: --api-bind)");
  serve_cmd->add_option("--mqtt-port", serve.mqtt_port, "MQTT over mutual TLS; 0 picks one, -1 off")
      ->check(CLI::Range(-1, 65535));
  serve_cmd->add_option("--mqtt-alpn-port", serve.mqtt_alpn_port,
                        "MQTT selected by ALPN x-amzn-mqtt-ca (AWS's 443); 0 picks one, -1 off")
      ->check(CLI::Range(-1, 65535));
  serve_cmd->add_option("--mqtt-workers", serve.mqtt_workers, "Broker threads (0 = one per core)")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_flag("--require-sni", serve.require_sni,
                      "Refuse devices whose TLS SNI names no account endpoint (as AWS does)");
  serve_cmd->add_option("--threads", serve.threads, "Request threads (0 = 8 per core)")
      ->check(CLI::Range(0, 1024));
  serve_cmd->add_option("--key-pool", serve.key_pool_size, "Pre-generated keys kept ready (16)")
      ->check(CLI::Range(0, 100000));
  serve_cmd->add_option("--secrets-key-file", serve.secrets_key_file, kSecretsKeyHelp);

  AccountOptions account;
  auto* account_cmd = app.add_subcommand("account", "Manage accounts (offline)");
  account_cmd->require_subcommand(1);
  auto* create_cmd = account_cmd->add_subcommand("create", "Create an isolated account");
  auto* list_cmd = account_cmd->add_subcommand("list", "List accounts");
  auto* reset_cmd = account_cmd->add_subcommand("reset", "Delete every resource of an account");
  auto* delete_cmd = account_cmd->add_subcommand("delete", "Delete an account and its resources");
  for (auto* cmd : {create_cmd, list_cmd, reset_cmd, delete_cmd}) {
    cmd->add_option("--data-dir", account.data_dir, "Data directory")->required();
    cmd->add_option("--secrets-key-file", account.secrets_key_file, kSecretsKeyHelp);
  }
  create_cmd->add_option("--account-id", account.account_id, "Account id (12 digits; random if absent)");
  create_cmd->add_option("--region", account.region, "Region");
  create_cmd->add_option("--endpoint-prefix", account.endpoint_prefix, "Endpoint prefix");
  create_cmd->add_option("--access-key-id", account.access_key_id, "Access key id");
  create_cmd->add_option("--secret-access-key", account.secret_access_key, "Secret access key");
  for (auto* cmd : {reset_cmd, delete_cmd}) {
    cmd->add_option("--account-id", account.account_id, "Account id")->required();
    cmd->add_flag("--yes", account.yes, "Do not ask for confirmation");
  }

  SecretsOptions secrets;
  auto* secrets_cmd = app.add_subcommand("secrets", "Manage the key that seals stored secrets");
  secrets_cmd->require_subcommand(1);
  auto* rotate_cmd = secrets_cmd->add_subcommand(
      "rotate-key", "Seal every stored secret under a new key and drop the old one (offline)");
  rotate_cmd->add_option("--data-dir", secrets.data_dir, "Data directory")->required();
  rotate_cmd->add_option("--secrets-key-file", secrets.secrets_key_file, kSecretsKeyHelp);

  CLI11_PARSE(app, argc, argv);
  if (init_cmd->parsed()) return runInit(init);
  if (serve_cmd->parsed()) return runServe(serve);
  if (create_cmd->parsed()) return runAccountCreate(account);
  if (list_cmd->parsed()) return runAccountList(account);
  if (reset_cmd->parsed()) return runAccountReset(account);
  if (delete_cmd->parsed()) return runAccountDelete(account);
  if (rotate_cmd->parsed()) return runSecretsRotateKey(secrets);
  return 1;
}
