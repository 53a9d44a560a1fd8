#include "rules/engine.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/encoding.h"
#include "testing/seeded_random.h"

namespace fleetgate::rules {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr auto kWait = 20s;  // bound on any wait; never reached when things work

// A one-thread HTTP/1.1 server on 127.0.0.1 that answers each connection as its script says.
class TestHttpServer {
 public:
  enum class Reply { kOk, kServerError, kGarbage, kSilent, kClose };
  struct Request {
    std::string head;
    std::string body;
  };

  explicit TestHttpServer(std::deque<Reply> script, Reply otherwise = Reply::kOk)
      : script_(std::move(script)), otherwise_(otherwise) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~TestHttpServer() {
    stop_ = true;
    thread_.join();
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
  }

  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  // Every connection counts, even one closed before its request was complete.
  int connections() {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      Reply reply = otherwise_;
      {
        std::lock_guard lock(mutex_);
        ++connections_;
        if (!script_.empty()) {
          reply = script_.front();
          script_.pop_front();
        }
      }
      Request request = read(fd);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      std::string answer;
      switch (reply) {
        case Reply::kOk: answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; break;
        case Reply::kServerError:
          answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
          break;
        case Reply::kGarbage: answer = "this is not HTTP at all\r\n\r\n"; break;
        case Reply::kSilent: held_.push_back(fd); continue;  // the client must time out
        case Reply::kClose: break;
      }
      if (!answer.empty()) (void)!::write(fd, answer.data(), answer.size());
      ::close(fd);
    }
  }

  // Head and Content-Length body, each read bounded by a 5 s silence.
  Request read(int fd) {
    std::string data;
    char buf[4096];
    std::size_t need = std::string::npos;
    while (data.size() < (need == std::string::npos ? data.size() + 1 : need)) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) break;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
      auto end = data.find("\r\n\r\n");
      if (need == std::string::npos && end != std::string::npos) {
        std::size_t length = 0;
        std::string lower = data.substr(0, end);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto cl = lower.find("content-length:"); cl != std::string::npos) {
          length = std::stoul(lower.substr(cl + 15));
        }
        need = end + 4 + length;
      }
    }
    auto end = data.find("\r\n\r\n");
    if (end == std::string::npos) return {data, ""};
    return {data.substr(0, end), data.substr(end + 4)};
  }

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::deque<Reply> script_;
  Reply otherwise_;
  std::vector<Request> requests_;
  int connections_ = 0;
  std::vector<int> held_;
};

struct Published {
  std::string account_id;
  std::string topic;
  std::string payload;
  int qos;
  int depth;
};

class RuleEngineTest : public ::testing::Test {
 protected:
  RuleEngineTest() : clock_(fromEpochMillis(1700000000000)) {}
  ~RuleEngineTest() override {
    if (engine_) engine_->stop();
  }

  // Builds the engine with `rules` for account "111111111111" and starts it.
  void start(std::vector<RuleDefinition> rules, EngineOptions options = fastOptions()) {
    rules_["111111111111"] = std::move(rules);
    engine_ = std::make_unique<RuleEngine>(
        options,
        RuleEngine::Dependencies{
            [this](const std::string& account) -> Result<std::vector<RuleDefinition>> {
              std::lock_guard lock(mutex_);
              auto it = rules_.find(account);
              if (it == rules_.end()) return Error(ErrorKind::kResourceNotFound, "no account");
              return it->second;
            },
            [this](const std::string& account, const std::string& topic, std::string payload,
                   int qos, int depth) {
              {
                std::lock_guard lock(mutex_);
                published_.push_back({account, topic, payload, qos, depth});
              }
              if (feedback_) {
                engine_->onMessage(Message{account, topic, payload, "", "", qos, depth});
              }
            },
            clock_, random_});
    ASSERT_TRUE(engine_->reload("111111111111").ok());
    engine_->start();
  }

  static EngineOptions fastOptions() {
    EngineOptions o;
    o.http.attempts = 3;
    o.http.backoff = 1ms;
    o.http.timeout = 500ms;
    return o;
  }

  void publish(const std::string& topic, const std::string& payload,
               const std::string& account = "111111111111", int depth = 0) {
    engine_->onMessage(Message{account, topic, payload, "client-1", "cert-1", 1, depth});
  }

  std::vector<Published> published() {
    EXPECT_TRUE(engine_->waitIdle(kWait));
    std::lock_guard lock(mutex_);
    return published_;
  }

  static RuleDefinition republishRule(const std::string& name, const std::string& sql,
                                      const std::string& topic, bool disabled = false) {
    return RuleDefinition{
        name, sql,
        json::array({{{"republish", {{"roleArn", "arn:aws:iam::1:role/r"}, {"topic", topic}}}}})
            .dump(),
        std::nullopt, disabled};
  }

  FakeClock clock_;
  testing::SeededRandom random_;
  std::mutex mutex_;
  std::map<std::string, std::vector<RuleDefinition>> rules_;
  std::vector<Published> published_;
  bool feedback_ = false;
  std::unique_ptr<RuleEngine> engine_;
};

TEST_F(RuleEngineTest, RepublishesWhatMatchesFromAndWhere) {
  start({republishRule("hot", "SELECT temp, topic(2) AS room FROM 'sensors/+/temp' WHERE temp > 30",
                       "alerts/${topic(2)}")});
  publish("sensors/kitchen/temp", R"({"temp": 35})");
  publish("sensors/hall/temp", R"({"temp": 20})");         // WHERE false
  publish("sensors/kitchen/humidity", R"({"temp": 99})");  // FROM does not match
  publish("sensors/kitchen/temp", "not json");              // temp Undefined
  publish("sensors/kitchen/temp", R"({"temp": 31})", "222222222222");  // another account
  auto out = published();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].account_id, "111111111111");
  EXPECT_EQ(out[0].topic, "alerts/kitchen");
  EXPECT_EQ(json::parse(out[0].payload), json::parse(R"({"temp": 35, "room": "kitchen"})"));
  EXPECT_EQ(out[0].qos, 0);
  EXPECT_EQ(out[0].depth, 1);
  EngineCounters c = engine_->counters();
  EXPECT_EQ(c.rules_matched, 1u);
  EXPECT_EQ(c.actions_succeeded, 1u);
  EXPECT_EQ(c.actions_failed, 0u);
}

TEST_F(RuleEngineTest, DisabledRulesDoNotRunAndReloadPicksUpChanges) {
  start({republishRule("r", "SELECT * FROM 'a/b'", "out", /*disabled=*/true)});
  publish("a/b", "{}");
  EXPECT_TRUE(published().empty());
  {
    std::lock_guard lock(mutex_);
    rules_["111111111111"] = {republishRule("r", "SELECT * FROM 'a/b'", "out")};
  }
  engine_->onRegistryEvent("thing", "111111111111");  // not a rule change: no reload
  publish("a/b", "{}");
  EXPECT_TRUE(published().empty());
  engine_->onRegistryEvent("topicRule", "111111111111");
  publish("a/b", "{}");
  EXPECT_EQ(published().size(), 1u);
  {
    std::lock_guard lock(mutex_);
    rules_.erase("111111111111");  // the account is gone
  }
  engine_->onRegistryEvent("account", "111111111111");
  publish("a/b", "{}");
  EXPECT_EQ(published().size(), 1u);
}

TEST_F(RuleEngineTest, WantsEventsWhileAnEnabledRuleSelectsFromThem) {
  start({republishRule("data", "SELECT * FROM 'a/b'", "out")});
  EXPECT_FALSE(engine_->wantsEvents());
  {
    std::lock_guard lock(mutex_);
    rules_["111111111111"].push_back(
        republishRule("presence", "SELECT * FROM '$aws/events/presence/connected/+'", "out"));
  }
  engine_->onRegistryEvent("topicRule", "111111111111");
  EXPECT_TRUE(engine_->wantsEvents());
  {
    std::lock_guard lock(mutex_);
    rules_["111111111111"].back().disabled = true;
  }
  engine_->onRegistryEvent("topicRule", "111111111111");
  EXPECT_FALSE(engine_->wantsEvents());
}

TEST_F(RuleEngineTest, BasicIngestReachesOnlyTheNamedRule) {
  start({republishRule("ingest", "SELECT *, topic() AS t FROM 'data/#'", "out/ingest"),
         republishRule("other", "SELECT * FROM 'data/#'", "out/other"),
         republishRule("everything", "SELECT * FROM '#'", "out/everything")});
  publish("$aws/rules/ingest/data/x", R"({"v": 1})");
  publish("$aws/rules/ingest/nomatch/x", R"({"v": 2})");  // FROM is matched against <rest>
  publish("$aws/rules/missing/data/x", R"({"v": 3})");
  publish("$aws/rules/ingest", R"({"v": 4})");
  auto out = published();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "out/ingest");
  EXPECT_EQ(json::parse(out[0].payload), json::parse(R"({"v": 1, "t": "data/x"})"));
}

TEST_F(RuleEngineTest, SubstitutesTemplatesFromTheIncomingMessage) {
  start({republishRule("t", "SELECT 1 AS one FROM 'dev/+/state'",
                       "copy/${clientid()}/${topic(2)}/${serial}/${timestamp()}")});
  publish("dev/d7/state", R"({"serial": "SN-9"})");
  auto out = published();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "copy/client-1/d7/SN-9/1700000000000");
}

TEST_F(RuleEngineTest, RepublishLoopsStopAtTheDepthLimit) {
  feedback_ = true;
  start({republishRule("loop", "SELECT * FROM 'loop/#'", "loop/again")});
  publish("loop/start", "{}");
  auto out = published();
  ASSERT_EQ(out.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[static_cast<std::size_t>(i)].depth, i + 1);
  EXPECT_EQ(engine_->counters().messages_ignored_depth, 1u);
  EXPECT_NE(engine_->metricsText().find("fleetgate_rules_loop_drops_total 1\n"),
            std::string::npos);
}

TEST_F(RuleEngineTest, AnInvalidRenderedTopicFailsAndRunsTheErrorAction) {
  RuleDefinition rule = republishRule("bad", "SELECT * FROM 'in/#'", "out/${name}");
  rule.error_action_json =
      json{{"republish", {{"roleArn", "arn:aws:iam::1:role/r"}, {"topic", "errors/${topic(2)}"}}}}
          .dump();
  start({rule});
  publish("in/x", R"({"name": "a/+"})");  // renders to a topic with a wildcard
  auto out = published();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "errors/x");
  json error = json::parse(out[0].payload);
  EXPECT_EQ(error["ruleName"], "bad");
  EXPECT_EQ(error["topic"], "in/x");
  EXPECT_EQ(error["clientId"], "client-1");
  EXPECT_EQ(error["base64OriginalPayload"], base64Encode(R"({"name": "a/+"})"));
  EXPECT_EQ(error["cloudwatchTraceId"].get<std::string>().size(), 36u);
  ASSERT_EQ(error["failures"].size(), 1u);
  EXPECT_EQ(error["failures"][0]["failedAction"], "RepublishAction");
  EXPECT_EQ(error["failures"][0]["failedResource"], "out/a/+");
  EXPECT_EQ(engine_->counters().actions_failed, 1u);
  EXPECT_EQ(engine_->counters().error_actions_succeeded, 1u);
}

TEST_F(RuleEngineTest, DropsActionsBeyondTheQueueBound) {
  EngineOptions options = fastOptions();
  options.max_pending_actions = 3;
  // Not started: nothing drains the queue, so the bound is reached deterministically.
  rules_["111111111111"] = {republishRule("r", "SELECT * FROM 'x'", "y")};
  engine_ = std::make_unique<RuleEngine>(
      options, RuleEngine::Dependencies{[this](const std::string& a) -> Result<std::vector<RuleDefinition>> {
                                          return rules_[a];
                                        },
                                        [](const std::string&, const std::string&, std::string,
                                           int, int) {},
                                        clock_, random_});
  ASSERT_TRUE(engine_->reload("111111111111").ok());
  for (int i = 0; i < 5; ++i) publish("x", "{}");
  EXPECT_EQ(engine_->counters().actions_dropped, 2u);
  EXPECT_NE(engine_->metricsText().find("fleetgate_rules_actions_total{outcome=\"dropped\"} 2\n"),
            std::string::npos);
}

RuleDefinition httpRule(const std::string& name, const std::string& url,
                        std::optional<std::string> error_url = std::nullopt) {
  RuleDefinition rule{
      name, "SELECT id, topic() AS t FROM 'hook/#'",
      json::array({{{"http",
                     {{"url", url},
                      {"headers", json::array({{{"key", "x-device"}, {"value", "${clientid()}"}}})}}}}})
          .dump(),
      std::nullopt, false};
  if (error_url) rule.error_action_json = json{{"http", {{"url", *error_url}}}}.dump();
  return rule;
}

TEST_F(RuleEngineTest, HttpPostsTheSelectOutputWithHeaders) {
  TestHttpServer server({});
  start({httpRule("h", server.url("/hook?x=1"))});
  publish("hook/a", R"({"id": 7})");
  ASSERT_TRUE(engine_->waitIdle(kWait));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].head.rfind("POST /hook?x=1 HTTP/1.1\r\n", 0), 0u) << requests[0].head;
  EXPECT_NE(requests[0].head.find("x-device: client-1"), std::string::npos) << requests[0].head;
  EXPECT_NE(requests[0].head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(json::parse(requests[0].body), json::parse(R"({"id": 7, "t": "hook/a"})"));
  EXPECT_EQ(engine_->counters().actions_succeeded, 1u);
}

TEST_F(RuleEngineTest, HttpRetriesAFailedAttemptThenSucceeds) {
  TestHttpServer server({TestHttpServer::Reply::kServerError, TestHttpServer::Reply::kGarbage});
  start({httpRule("h", server.url())});
  publish("hook/a", R"({"id": 1})");
  ASSERT_TRUE(engine_->waitIdle(kWait));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) EXPECT_EQ(json::parse(r.body)["id"], 1);
  EngineCounters c = engine_->counters();
  EXPECT_EQ(c.actions_succeeded, 1u);
  EXPECT_EQ(c.actions_failed, 0u);
}

TEST_F(RuleEngineTest, HttpGivesUpAfterThreeAttemptsAndRunsTheErrorAction) {
  TestHttpServer failing({}, TestHttpServer::Reply::kServerError);
  TestHttpServer errors({});
  start({httpRule("h", failing.url("/down"), errors.url("/errors"))});
  publish("hook/a", R"({"id": 2})");
  ASSERT_TRUE(engine_->waitIdle(kWait));
  EXPECT_EQ(failing.requests().size(), 3u);
  auto reported = errors.requests();
  ASSERT_EQ(reported.size(), 1u);
  json error = json::parse(reported[0].body);
  EXPECT_EQ(error["ruleName"], "h");
  EXPECT_EQ(error["topic"], "hook/a");
  EXPECT_EQ(error["clientId"], "client-1");
  EXPECT_EQ(base64Decode(error["base64OriginalPayload"].get<std::string>()), R"({"id": 2})");
  ASSERT_EQ(error["failures"].size(), 1u);
  EXPECT_EQ(error["failures"][0]["failedAction"], "HttpAction");
  EXPECT_EQ(error["failures"][0]["failedResource"], failing.url("/down"));
  EXPECT_EQ(error["failures"][0]["errorMessage"], "the endpoint answered HTTP 503");
  EngineCounters c = engine_->counters();
  EXPECT_EQ(c.actions_failed, 1u);
  EXPECT_EQ(c.error_actions_succeeded, 1u);
}

TEST_F(RuleEngineTest, HttpTimeoutsRefusalsAndGarbageAreFailures) {
  TestHttpServer silent({}, TestHttpServer::Reply::kSilent);
  TestHttpServer garbage({}, TestHttpServer::Reply::kGarbage);
  TestHttpServer closing({}, TestHttpServer::Reply::kClose);
  // A port nothing listens on: bind one, note it, close it.
  std::string refused;
  {
    TestHttpServer gone({});
    refused = gone.url();
  }
  TestHttpServer errors({});
  EngineOptions options = fastOptions();
  options.http.timeout = 200ms;
  start({httpRule("silent", silent.url(), errors.url("/silent")),
         httpRule("garbage", garbage.url(), errors.url("/garbage")),
         httpRule("closing", closing.url(), errors.url("/closing")),
         httpRule("refused", refused, errors.url("/refused"))},
        options);
  publish("hook/x", R"({"id": 3})");
  ASSERT_TRUE(engine_->waitIdle(kWait));
  EXPECT_EQ(silent.connections(), 3);
  EXPECT_EQ(garbage.connections(), 3);
  EXPECT_EQ(closing.connections(), 3);
  std::map<std::string, std::string> messages;
  for (const auto& r : errors.requests()) {
    std::string path = r.head.substr(5, r.head.find(' ', 5) - 5);
    messages[path] = json::parse(r.body)["failures"][0]["errorMessage"];
  }
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages["/silent"], "no response within the timeout");
  EXPECT_NE(messages["/garbage"].find("invalid or no HTTP response"), std::string::npos);
  EXPECT_NE(messages["/closing"].find("invalid or no HTTP response"), std::string::npos);
  EXPECT_NE(messages["/refused"].find("cannot connect"), std::string::npos);
  EngineCounters c = engine_->counters();
  EXPECT_EQ(c.actions_failed, 4u);
  EXPECT_EQ(c.error_actions_succeeded, 4u);
}

TEST_F(RuleEngineTest, AFailingErrorActionIsCountedNotRetriedForever) {
  TestHttpServer failing({}, TestHttpServer::Reply::kServerError);
  start({httpRule("h", failing.url("/a"), failing.url("/errors"))});
  publish("hook/a", R"({"id": 4})");
  ASSERT_TRUE(engine_->waitIdle(kWait));
  // Three attempts of the action, three of the error action, nothing more.
  EXPECT_EQ(failing.requests().size(), 6u);
  EXPECT_EQ(engine_->counters().error_actions_failed, 1u);
}

TEST_F(RuleEngineTest, StoppedEngineIgnoresMessages) {
  start({republishRule("r", "SELECT * FROM 'x'", "y")});
  engine_->stop();
  publish("x", "{}");
  EXPECT_TRUE(engine_->waitIdle(kWait));
  std::lock_guard lock(mutex_);
  EXPECT_TRUE(published_.empty());
}

}  // namespace
}  // namespace fleetgate::rules
