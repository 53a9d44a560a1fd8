// `fleetgate secrets rotate-key`: seals every stored secret under a new key. The key file holds
// the old and the new key while the secrets are re-sealed, so a crash at any point leaves every
// secret readable; the next start (or a second run) finishes the work.
#include <iostream>

#include "cli/commands.h"
#include "cli/setup.h"

namespace fleetgate::cli {

int runSecretsRotateKey(const SecretsOptions& options) {
  // A running server holds the old ring in memory and would seal new secrets with it.
  auto lock = DataDirLock::tryAcquire(DataDir(options.data_dir));
  if (!lock.ok()) return fail(lock.error());
  if (!*lock) {
    std::cerr << "fleetgate: a fleetgate server is running on " << options.data_dir
              << "; stop it before you rotate the secrets key.\n";
    return 1;
  }
  auto services = openInitialized(options.data_dir, options.secrets_key_file);
  if (!services.ok()) return fail(services.error());
  Services& s = **services;
  pki::SecretKeyring& ring = s.secrets();
  const std::string old_key = ring.currentKeyId();
  ring.rotate();
  if (auto w = replaceFile(s.secretsKeyFile(), ring.serialize(), 0600); !w.ok()) {
    return fail(w.error());
  }
  auto resealed = s.registry().resealSecrets();
  if (!resealed.ok()) return fail(resealed.error());
  ring.dropOldKeys();
  if (auto w = replaceFile(s.secretsKeyFile(), ring.serialize(), 0600); !w.ok()) {
    return fail(w.error());
  }
  std::cout << "re-sealed " << *resealed << " secrets under key " << ring.currentKeyId()
            << "; key " << old_key << " is gone from " << s.secretsKeyFile().string() << "\n";
  return 0;
}

}  // namespace fleetgate::cli
