// `fleetgate account ...`: offline administration of the accounts of a data directory.
#include <iostream>

#include "cli/commands.h"
#include "cli/setup.h"

namespace fleetgate::cli {
namespace {

Result<std::unique_ptr<Services>> openServices(const AccountOptions& options) {
  return openInitialized(options.data_dir, options.secrets_key_file);
}

// Destructive commands run only while no server holds the data directory (a running server
// caches keys and certificates the change would make stale). Returns the lock to hold while
// the change runs, or nullopt when it must not run.
std::optional<DataDirLock> lockForDestructive(const AccountOptions& options,
                                              const std::string& action) {
  DataDir dir(options.data_dir);
  auto lock = DataDirLock::tryAcquire(dir);
  if (!lock.ok() || !*lock) {
    std::cerr << "fleetgate: a fleetgate server is running on " << options.data_dir
              << "; stop it before you " << action << " an account.\n";
    return std::nullopt;
  }
  if (options.yes) return std::move(*lock);
  std::cerr << "This will " << action << " account " << options.account_id
            << " and every resource in it. Type the account id to confirm: ";
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != options.account_id) {
    std::cerr << "fleetgate: not confirmed; nothing changed.\n";
    return std::nullopt;
  }
  return std::move(*lock);
}

}  // namespace

int runAccountCreate(const AccountOptions& options) {
  auto services = openServices(options);
  if (!services.ok()) return fail(services.error());
  Services& s = **services;
  registry::NewAccount account;
  account.id = options.account_id.empty() ? randomString(s.random(), "0123456789", 12)
                                          : options.account_id;
  account.region = options.region.value_or(s.config().region);
  account.endpoint_prefix = options.endpoint_prefix.value_or(
      randomString(s.random(), "abcdefghijklmnopqrstuvwxyz0123456789", 14));
  account.access_key_id = options.access_key_id.value_or(
      "AKIA" + randomString(s.random(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
  account.secret_access_key = options.secret_access_key.value_or(randomString(
      s.random(), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40));
  auto created = s.registry().createAccount(account);
  if (!created.ok()) return fail(created.error());
  std::cout << "account_id = " << account.id << "\nregion = " << account.region
            << "\nendpoint_prefix = " << account.endpoint_prefix
            << "\naws_access_key_id = " << account.access_key_id
            << "\naws_secret_access_key = " << account.secret_access_key << "\n";
  return 0;
}

int runAccountList(const AccountOptions& options) {
  auto services = openServices(options);
  if (!services.ok()) return fail(services.error());
  auto accounts = (*services)->registry().listAccounts();
  if (!accounts.ok()) return fail(accounts.error());
  for (const auto& a : *accounts) {
    std::cout << a.id << "\t" << a.region << "\t" << a.endpoint_prefix << "\n";
  }
  return 0;
}

int runAccountReset(const AccountOptions& options) {
  auto lock = lockForDestructive(options, "empty");
  if (!lock) return 1;
  auto services = openServices(options);
  if (!services.ok()) return fail(services.error());
  if (auto s = (*services)->registry().resetAccount(options.account_id); !s.ok()) {
    return fail(s.error());
  }
  std::cout << "account " << options.account_id << " emptied\n";
  return 0;
}

int runAccountDelete(const AccountOptions& options) {
  auto services = openServices(options);
  if (!services.ok()) return fail(services.error());
  if (options.account_id == (*services)->config().default_account_id) {
    std::cerr << "fleetgate: the default account cannot be deleted; empty it with account reset.\n";
    return 1;
  }
  auto lock = lockForDestructive(options, "delete");
  if (!lock) return 1;
  if (auto s = (*services)->registry().deleteAccount(options.account_id); !s.ok()) {
    return fail(s.error());
  }
  std::cout << "account " << options.account_id << " deleted\n";
  return 0;
}

}  // namespace fleetgate::cli
