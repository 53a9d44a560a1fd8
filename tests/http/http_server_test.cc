#include "http/http_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fleetgate::http {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using std::chrono::steady_clock;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Every command given here bounds itself (curl --max-time, `timeout` for openssl).
CommandResult runCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  std::size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, pipe)) > 0) result.output.append(chunk, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shellQuote(const std::string& s) {
  std::string quoted = "'";
  for (char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

template <typename Predicate>
bool waitFor(Predicate predicate, seconds limit = seconds(10)) {
  const auto deadline = steady_clock::now() + limit;
  while (!predicate()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A client process that keeps running (and holding its connection) until it exits on its own or
// the test ends. Its stdin is a pipe the test writes to and keeps open.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[0]);
    stdin_ = fds[1];
    if (rc != 0) throw std::runtime_error("posix_spawnp failed");
  }

  ~Child() {
    if (stdin_ >= 0) close(stdin_);
    if (!exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void send(const std::string& data) {
    ASSERT_EQ(write(stdin_, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }

  bool waitExit(seconds limit) {
    return waitFor(
        [this] {
          if (exited_) return true;
          int status = 0;
          if (waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
          return exited_;
        },
        limit);
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  bool exited_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/fleetgate-http-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = new fs::path(pattern);
    const std::string cert = (*dir_ / "cert.pem").string();
    const std::string key = (*dir_ / "key.pem").string();
    const std::string other_key = (*dir_ / "other_key.pem").string();
    // umask: the key file is never readable by others, not even for a moment.
    const auto made = runCommand(
        "umask 077 && timeout 30 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 -keyout " +
        key + " -out " + cert +
        " 2>&1 && timeout 30 openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
        other_key + " 2>&1");
    ASSERT_EQ(made.exit_code, 0) << made.output;
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(other_key, fs::perms::owner_read | fs::perms::owner_write);

    // OpenSSL 3's default security level alone already rules out TLS 1.0/1.1 (SHA-1), which
    // would hide a server that forgot to disable them. Level 0 for this process (read when the
    // first server creates its TLS context) and its children leaves only the server's options.
    const fs::path conf = *dir_ / "openssl.cnf";
    std::ofstream(conf) << "openssl_conf = openssl_init\n"
                           "[openssl_init]\nssl_conf = ssl_sect\n"
                           "[ssl_sect]\nsystem_default = system_default_sect\n"
                           "[system_default_sect]\nCipherString = DEFAULT@SECLEVEL=0\n";
    setenv("OPENSSL_CONF", conf.c_str(), 1);
  }

  static void TearDownTestSuite() {
    unsetenv("OPENSSL_CONF");  // the file goes away with the directory
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static std::string certFile() { return (*dir_ / "cert.pem").string(); }
  static std::string keyFile() { return (*dir_ / "key.pem").string(); }

  void TearDown() override {
    if (server_) server_->stop();
  }

  static ServerOptions defaultOptions() {
    ServerOptions options;
    options.port = 0;
    options.certificate_chain_file = certFile();
    options.private_key_file = keyFile();
    options.threads = 2;
    return options;
  }

  std::unique_ptr<Server> makeServer(ServerOptions options) {
    return std::make_unique<Server>(
        std::move(options), [this](const Request& request) { return handle(request); },
        [this](const Error& error) {
          ++refusals_;
          Response response;
          response.status = error.httpStatus();
          response.headers.emplace_back("x-amzn-ErrorType", std::string(error.name()));
          response.body = "{\"message\":\"" + error.message() + "\"}";
          return response;
        });
  }

  void startServer(ServerOptions options = defaultOptions()) {
    server_ = makeServer(std::move(options));
    const Status started = server_->start();
    ASSERT_TRUE(started.ok()) << started.error().cause();
  }

  Response handle(const Request& request) {
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(request);
    }
    ++calls_;
    if (request.path == "/throw") throw std::runtime_error("handler failure");
    if (request.path == "/slow") {
      std::unique_lock lock(mutex_);
      slow_entered_ = true;
      released_.notify_all();
      released_.wait_for(lock, seconds(20), [this] { return slow_released_; });
    }
    Response response;
    response.headers.emplace_back("X-Reply", "yes");
    if (request.path == "/text") response.headers.emplace_back("Content-Type", "text/plain");
    response.body = "{\"echo\":" + std::to_string(request.body.size()) + "}";
    return response;
  }

  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  std::string url(const std::string& path_and_query) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path_and_query;
  }

  // curl with our CA; `args` is spliced into the shell command as is.
  static CommandResult curl(const std::string& args) {
    return runCommand("curl -sS -g --max-time 20 --cacert " + certFile() + " " + args + " 2>&1");
  }

  // Exit status of a bare handshake; stdin at EOF makes s_client leave right after it.
  int tlsHandshake(const std::string& args) const {
    return runCommand("timeout 20 openssl s_client -connect 127.0.0.1:" +
                      std::to_string(server_->port()) + " " + args + " </dev/null >/dev/null 2>&1")
        .exit_code;
  }

  // Sends `input` and prints what the server answers until it closes the connection.
  CommandResult sClient(const std::string& input) const {
    return runCommand("printf '%s' " + shellQuote(input) +
                      " | timeout 20 openssl s_client -quiet -connect 127.0.0.1:" +
                      std::to_string(server_->port()) + " 2>/dev/null");
  }

  std::unique_ptr<Server> server_;
  std::atomic<int> calls_{0};
  std::atomic<int> refusals_{0};
  std::mutex mutex_;
  std::condition_variable released_;
  bool slow_entered_ = false;      // guarded by mutex_
  bool slow_released_ = false;     // guarded by mutex_
  std::vector<Request> requests_;  // guarded by mutex_

  static fs::path* dir_;
};

fs::path* HttpServerTest::dir_ = nullptr;

TEST_F(HttpServerTest, GetReachesHandler) {
  startServer();
  const auto result = curl("-H 'X-Custom: Value One' -w '|%{http_code}|%{content_type}' " +
                           shellQuote(url("/things/my%20thing?a=1&token=b%2Fc")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "{\"echo\":0}|200|application/json");

  const auto seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/things/my%20thing");
  EXPECT_EQ(seen[0].query, "a=1&token=b%2Fc");
  EXPECT_EQ(seen[0].header("x-custom"), "Value One");
  EXPECT_EQ(seen[0].header("X-CUSTOM"), "Value One");
  EXPECT_EQ(seen[0].header("host"), "127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_FALSE(seen[0].header("x-absent").has_value());
  EXPECT_TRUE(seen[0].body.empty());
  EXPECT_EQ(seen[0].remote_address, "127.0.0.1");
  EXPECT_NE(seen[0].remote_port, 0);
}

TEST_F(HttpServerTest, PostBodyReachesHandler) {
  startServer();
  const std::string body = R"({"thingName":"sensor-1","attributes":{"a":"b c"}})";
  const auto result = curl("-X POST -H 'Content-Type: application/x-amz-json-1.1' --data-binary " +
                           shellQuote(body) + " -i " + shellQuote(url("/things/sensor-1")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("HTTP/1.1 200"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("X-Reply: yes"), std::string::npos) << result.output;
  const std::string reply = "{\"echo\":" + std::to_string(body.size()) + "}";
  EXPECT_NE(result.output.find("Content-Length: " + std::to_string(reply.size())),
            std::string::npos)
      << result.output;

  const auto seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/things/sensor-1");
  EXPECT_EQ(seen[0].query, "");
  EXPECT_EQ(seen[0].body, body);
  EXPECT_EQ(seen[0].header("content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(seen[0].header("content-length"), std::to_string(body.size()));
}

TEST_F(HttpServerTest, HandlerContentTypeIsKept) {
  startServer();
  const auto result = curl("-o /dev/null -w '%{content_type}' " + url("/text"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "text/plain");
}

TEST_F(HttpServerTest, HeadSendsLengthWithoutBody) {
  startServer();
  const auto result = curl("-I " + url("/head"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("Content-Length: 10\r\n"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("echo"), std::string::npos) << result.output;
}

TEST_F(HttpServerTest, KeepAliveReusesConnection) {
  startServer();
  const auto result = curl("-o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\\n' " +
                           url("/first") + " " + url("/second"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "200 1\n200 0\n");
  EXPECT_EQ(server_->acceptedConnections(), 1u);
  const auto seen = requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, "/first");
  EXPECT_EQ(seen[1].path, "/second");
  EXPECT_EQ(seen[0].remote_port, seen[1].remote_port);
}

TEST_F(HttpServerTest, ExpectContinueBodyIsRead) {
  startServer();
  const std::string body(3000, 'x');
  const auto result =
      curl("-v -H 'Expect: 100-continue' --data-binary " + body + " " + url("/continue"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("HTTP/1.1 100 Continue"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("{\"echo\":3000}"), std::string::npos) << result.output;
  const auto seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, body);
}

TEST_F(HttpServerTest, OversizedBodyIsRefusedWith413) {
  ServerOptions options = defaultOptions();
  options.max_body_bytes = 1024;
  startServer(options);
  const fs::path big = *dir_ / "big.bin";
  std::ofstream(big) << std::string(256 * 1024, 'x');

  // Content-Length over the limit, with and without waiting for 100 Continue, and a chunked
  // body that only crosses the limit while streaming.
  for (const std::string headers :
       {"-H 'Expect: 100-continue'", "-H 'Expect:'", "-H 'Transfer-Encoding: chunked'"}) {
    SCOPED_TRACE(headers);
    const auto result =
        curl("-i " + headers + " --data-binary @" + big.string() + " " + url("/upload"));
    EXPECT_NE(result.output.find("HTTP/1.1 413"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("x-amzn-ErrorType: RequestEntityTooLargeException"),
              std::string::npos)
        << result.output;
  }
  // Python's http.client (under boto3) sends the whole body before it reads: the refusal must
  // survive until then rather than be lost to a reset.
  const auto python = runCommand(
      "timeout 20 /usr/bin/python3 -c \"import http.client, ssl; "
      "c = http.client.HTTPSConnection('127.0.0.1', " +
      std::to_string(server_->port()) + ", context=ssl.create_default_context(cafile='" +
      certFile() +
      "'), timeout=15); c.request('POST', '/upload', body=b'x' * 262144); r = c.getresponse(); "
      "print(r.status, r.getheader('x-amzn-ErrorType'))\" 2>&1");
  EXPECT_EQ(python.output, "413 RequestEntityTooLargeException\n");
  EXPECT_EQ(calls_.load(), 0);
  EXPECT_EQ(refusals_.load(), 4);

  // A body at the limit is fine.
  const auto at_limit =
      curl("-w '|%{http_code}' --data-binary " + std::string(1024, 'y') + " " + url("/upload"));
  EXPECT_EQ(at_limit.output, "{\"echo\":1024}|200");
}

TEST_F(HttpServerTest, MalformedRequestGets400) {
  startServer();
  const auto bad_field = sClient("GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n");
  EXPECT_EQ(bad_field.output.rfind("HTTP/1.1 400", 0), 0u) << bad_field.output;
  EXPECT_NE(bad_field.output.find("InvalidRequestException"), std::string::npos);
  constexpr int kTimedOut = 124;  // `timeout` killed it: the server never closed the connection
  EXPECT_NE(bad_field.exit_code, kTimedOut);

  const auto bad_version = sClient("GET / HTTP/9.x\r\n\r\n");
  EXPECT_EQ(bad_version.output.rfind("HTTP/1.1 400", 0), 0u) << bad_version.output;
  EXPECT_NE(bad_version.exit_code, kTimedOut);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  startServer();
  const auto result = sClient("GET /once HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(result.output.rfind("HTTP/1.1 200", 0), 0u) << result.output;
  EXPECT_NE(result.output.find("Connection: close"), std::string::npos) << result.output;
  EXPECT_NE(result.exit_code, 124);  // the server closed it; `timeout` did not have to
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(HttpServerTest, OversizedHeaderGets400) {
  ServerOptions options = defaultOptions();
  options.max_header_bytes = 4096;
  startServer(options);
  const auto result =
      curl("-o /dev/null -w '%{http_code}' -H 'X-Big: " + std::string(8000, 'a') + "' " + url("/"));
  EXPECT_EQ(result.output, "400");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpServerTest, OnlyTls12AndTls13AreAccepted) {
  startServer();
  // SECLEVEL=0 makes the client willing to offer TLS 1.1, so the refusal is the server's.
  EXPECT_NE(tlsHandshake("-tls1_1 -cipher DEFAULT@SECLEVEL=0"), 0);
  EXPECT_NE(tlsHandshake("-tls1 -cipher DEFAULT@SECLEVEL=0"), 0);
  EXPECT_EQ(tlsHandshake("-tls1_2"), 0);
  EXPECT_EQ(tlsHandshake("-tls1_3"), 0);
}

TEST_F(HttpServerTest, ThrowingHandlerGives500AndServerKeepsServing) {
  startServer();
  const auto result = curl("-w '|%{http_code}\\n' " + url("/throw") + " " + url("/fine"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "{\"message\":\"An internal error occurred.\"}|500\n{\"echo\":0}|200\n");
  EXPECT_EQ(calls_.load(), 2);
  EXPECT_EQ(server_->acceptedConnections(), 1u);  // the 500 kept the connection alive
}

TEST_F(HttpServerTest, SlowHandlerDoesNotBlockOtherConnections) {
  startServer();  // two I/O threads
  Child slow({"curl", "-sS", "--max-time", "20", "--cacert", certFile(), url("/slow")});
  ASSERT_TRUE(waitFor([this] {
    std::lock_guard lock(mutex_);
    return slow_entered_;
  }));
  const auto fast = curl("-w '|%{http_code}' " + url("/fast"));
  EXPECT_EQ(fast.output, "{\"echo\":0}|200");
  {
    std::lock_guard lock(mutex_);
    slow_released_ = true;
  }
  released_.notify_all();
  EXPECT_TRUE(slow.waitExit(seconds(20)));
}

TEST_F(HttpServerTest, StopClosesIdleKeepAliveConnection) {
  startServer();  // idle_timeout 60 s: only stop() can end the connection within the test
  Child client({"timeout", "60", "openssl", "s_client", "-quiet", "-connect",
                "127.0.0.1:" + std::to_string(server_->port())});
  client.send("GET /before-stop HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(waitFor([this] { return calls_.load() == 1; }));

  const auto begin = steady_clock::now();
  server_->stop();
  // Generous: it only tells "closed the connection" from "waited for the 60 s idle timeout".
  EXPECT_LT(steady_clock::now() - begin, seconds(30));
  EXPECT_TRUE(client.waitExit(seconds(20)));
  server_->stop();  // idempotent
}

TEST_F(HttpServerTest, IdleConnectionIsClosedAfterIdleTimeout) {
  ServerOptions options = defaultOptions();
  options.idle_timeout = seconds(1);
  startServer(options);
  Child client({"timeout", "60", "openssl", "s_client", "-quiet", "-connect",
                "127.0.0.1:" + std::to_string(server_->port())});
  ASSERT_TRUE(waitFor([this] { return server_->acceptedConnections() == 1; }));
  // The client never sends a byte and keeps its stdin open: only the server can close.
  EXPECT_TRUE(client.waitExit(seconds(20)));
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpServerTest, ServesIpv6Loopback) {
  ServerOptions options = defaultOptions();
  options.bind_address = "::1";
  startServer(options);
  const auto result =
      curl("-w '|%{http_code}' 'https://[::1]:" + std::to_string(server_->port()) + "/v6?x=1'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "{\"echo\":0}|200");
  const auto seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].remote_address, "::1");
  EXPECT_EQ(seen[0].query, "x=1");
}

TEST_F(HttpServerTest, StartFailsOnBusyPort) {
  startServer();
  ServerOptions options = defaultOptions();
  options.port = server_->port();
  auto second = makeServer(options);
  const Status status = second->start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().cause().find("cannot listen"), std::string::npos)
      << status.error().cause();
}

TEST_F(HttpServerTest, StartFailsOnBadFiles) {
  ServerOptions missing_cert = defaultOptions();
  missing_cert.certificate_chain_file = (*dir_ / "absent.pem").string();
  EXPECT_FALSE(makeServer(missing_cert)->start().ok());

  ServerOptions wrong_key = defaultOptions();
  wrong_key.private_key_file = (*dir_ / "other_key.pem").string();
  EXPECT_FALSE(makeServer(wrong_key)->start().ok());

  ServerOptions not_ip = defaultOptions();
  not_ip.bind_address = "not-an-address";
  EXPECT_FALSE(makeServer(not_ip)->start().ok());
}

TEST_F(HttpServerTest, StartTwiceFails) {
  startServer();
  EXPECT_FALSE(server_->start().ok());
}

}  // namespace
}  // namespace fleetgate::http
