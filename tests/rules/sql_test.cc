#include "rules/sql.h"

#include <gtest/gtest.h>

#include <string>

namespace fleetgate::rules {
namespace {

using nlohmann::json;

Query parse(const std::string& sql) {
  auto q = parseSql(sql);
  EXPECT_TRUE(q.ok()) << sql << ": " << (q.ok() ? "" : q.error().message());
  return q.ok() ? std::move(q).value() : Query();
}

std::string parseError(const std::string& sql) {
  auto q = parseSql(sql);
  EXPECT_FALSE(q.ok()) << sql;
  if (q.ok()) return "";
  EXPECT_EQ(q.error().kind(), ErrorKind::kSqlParse) << sql;
  EXPECT_EQ(q.error().name(), "SqlParseException");
  EXPECT_EQ(q.error().httpStatus(), 400);
  return q.error().message();
}

struct Message {
  std::string topic = "dt/plant1/sensor7/temp";
  std::string client_id = "sensor7";
  std::string principal = "abc123";
  std::int64_t timestamp = 1700000000123;
  std::optional<json> payload;

  MessageContext context() const {
    return MessageContext{topic, client_id, principal, timestamp, payload ? &*payload : nullptr};
  }
};

Message withPayload(const std::string& text) {
  Message m;
  m.payload = parsePayload(text);
  return m;
}

json selectObject(const std::string& sql, const Message& m, const std::string& raw = "") {
  Query q = parse(sql);
  return q.select(m.context(), raw).object;
}

bool where(const std::string& condition, const Message& m) {
  return parse("SELECT * FROM '#' WHERE " + condition).matches(m.context());
}

TEST(RuleSql, ParsesTheTopicFilterOfFrom) {
  EXPECT_EQ(parse("SELECT * FROM 'a/+/c'").topicFilter(), "a/+/c");
  EXPECT_EQ(parse("select * from '$aws/events/certificates/registered/#'").topicFilter(),
            "$aws/events/certificates/registered/#");
  EXPECT_FALSE(parse("SELECT * FROM 'a'").hasWhere());
  EXPECT_TRUE(parse("SELECT * FROM 'a' WHERE x = 1").hasWhere());
}

TEST(RuleSql, ParseErrorsNameThePosition) {
  EXPECT_EQ(parseError("SELECT * FORM 'a'"),
            "Unexpected 'FORM': expected ',' or FROM at position 10.");
  EXPECT_EQ(parseError("SELECT FROM 'a'"), "Unexpected 'FROM': expected an expression at position 8.");
  EXPECT_EQ(parseError("SELECT * FROM a"),
            "Unexpected 'a': expected a quoted topic filter after FROM at position 15.");
  EXPECT_EQ(parseError("SELECT * FROM 'a/#/b'"), "Invalid topic filter 'a/#/b' at position 15.");
  EXPECT_EQ(parseError("SELECT * FROM 'a' WHERE"),
            "Unexpected end of statement: expected an expression at position 24.");
  EXPECT_EQ(parseError("SELECT * FROM 'a' WHERE x = 'open"),
            "Unterminated string literal at position 29.");
  EXPECT_EQ(parseError("SELECT * FROM 'a' WHERE x ~ 1"), "Unexpected character '~' at position 27.");
  EXPECT_EQ(parseError("SELECT * FROM 'a' WHERE (x = 1"),
            "Unexpected end of statement: expected ')' at position 31.");
  EXPECT_EQ(parseError("SELECT * FROM 'a' WHERE a = 1 = 2"),
            "Unexpected '=': comparisons do not chain; use AND at position 31.");
  EXPECT_EQ(parseError("SELECT * FROM 'a' WHERE x = 1 extra"),
            "Unexpected 'extra': expected WHERE or end of statement at position 31.");
  EXPECT_NE(parseError("SELECT lower(x) FROM 'a'").find("Unsupported function lower()"),
            std::string::npos);
  EXPECT_NE(parseError("SELECT topic(0) FROM 'a'").find("topic() takes a level"), std::string::npos);
  EXPECT_NE(parseError("SELECT x AS FROM 'a'").find("expected a name after AS"), std::string::npos);
  EXPECT_EQ(parseError(""), "The SQL statement is empty.");
  EXPECT_NE(parseError("UPDATE x").find("expected SELECT at position 1"), std::string::npos);
}

TEST(RuleSql, NestingIsBounded) {
  std::string deep = "SELECT * FROM 'a' WHERE " + std::string(33, '(') + "x = 1" + std::string(33, ')');
  EXPECT_NE(parseError(deep).find("Nesting is too deep"), std::string::npos);
  std::string nots = "SELECT * FROM 'a' WHERE ";
  for (int i = 0; i < 40; ++i) nots += "NOT ";
  nots += "x";
  EXPECT_NE(parseError(nots).find("Nesting is too deep"), std::string::npos);
  std::string ok = "SELECT * FROM 'a' WHERE " + std::string(32, '(') + "x = 1" + std::string(32, ')');
  parse(ok);
  // Long AND/OR chains are flat, so they are not nesting.
  std::string chain = "SELECT * FROM 'a' WHERE x = 1";
  for (int i = 0; i < 500; ++i) chain += " AND x = 1";
  Message m = withPayload(R"({"x": 1})");
  EXPECT_TRUE(parse(chain).matches(m.context()));
}

TEST(RuleSql, SelectsFieldPathsWithTheirLastSegmentAsName) {
  Message m = withPayload(R"({"a": {"b": {"c": 5}}, "list": [10, 20], "s": "x"})");
  EXPECT_EQ(selectObject("SELECT a.b.c, list[1], s AS renamed FROM 'x'", m),
            json::parse(R"({"c": 5, "list": 20, "renamed": "x"})"));
  // A missing field is Undefined and left out.
  EXPECT_EQ(selectObject("SELECT a.missing, a.b.c.d, list[5] FROM 'x'", m), json::object());
}

TEST(RuleSql, FunctionsSeeTheMessage) {
  Message m = withPayload("{}");
  EXPECT_EQ(selectObject("SELECT topic() AS t, topic(1) AS t1, topic(4) AS t4, topic(5) AS t5, "
                         "clientid() AS c, principal() AS p, timestamp() AS ts FROM '#'",
                         m),
            json::parse(R"({"t": "dt/plant1/sensor7/temp", "t1": "dt", "t4": "temp",
                            "c": "sensor7", "p": "abc123", "ts": 1700000000123})"));
  EXPECT_EQ(selectObject("SELECT topic(2), clientid() FROM '#'", m),
            json::parse(R"({"topic": "plant1", "clientid": "sensor7"})"));
  m.client_id.clear();
  m.principal.clear();
  EXPECT_EQ(selectObject("SELECT clientid() AS c, principal() AS p FROM '#'", m), json::object());
}

TEST(RuleSql, LiteralsAndExpressionsWithoutAliasArePositional) {
  Message m = withPayload(R"({"t": 30})");
  EXPECT_EQ(selectObject("SELECT 'hello', 42, -1.5, true, t > 25 FROM 'x'", m),
            json::parse(R"({"_1": "hello", "_2": 42, "_3": -1.5, "_4": true, "_5": true})"));
  EXPECT_EQ(selectObject("SELECT 'it''s', 'a\\'b' AS q FROM 'x'", m),
            json::parse(R"({"_1": "it's", "q": "a'b"})"));
}

TEST(RuleSql, StarMergesThePayloadWithOtherItems) {
  Message m = withPayload(R"({"a": 1, "b": 2})");
  EXPECT_EQ(selectObject("SELECT *, topic(2) AS plant FROM 'x'", m),
            json::parse(R"({"a": 1, "b": 2, "plant": "plant1"})"));
}

TEST(RuleSql, StarAlonePassesTheBytesThrough) {
  std::string raw = "{ \"a\" :1 }";
  Message m = withPayload(raw);
  EXPECT_EQ(parse("SELECT * FROM 'x'").select(m.context(), raw).body, raw);
  // Non-JSON bytes too.
  std::string binary("\x00\x01\xffnot json", 11);
  Message b;
  b.payload = parsePayload(binary);
  EXPECT_FALSE(b.payload.has_value());
  EXPECT_EQ(parse("SELECT * FROM 'x'").select(b.context(), binary).body, binary);
  // Field references of a non-JSON payload are Undefined, so a WHERE on them is false.
  EXPECT_FALSE(parse("SELECT * FROM 'x' WHERE a = 1").matches(b.context()));
  EXPECT_FALSE(parse("SELECT * FROM 'x' WHERE a <> 1").matches(b.context()));
  EXPECT_TRUE(parse("SELECT * FROM 'x' WHERE topic(1) = 'dt'").matches(b.context()));
  EXPECT_EQ(parse("SELECT a, topic(1) AS t FROM 'x'").select(b.context(), binary).body,
            R"({"t":"dt"})");
}

TEST(RuleSql, WhereComparisons) {
  Message m = withPayload(
      R"({"n": 10, "f": 2.5, "s": "abc", "b": true, "z": null, "big": 9007199254740993,
          "ns": "12", "o": {"k": 1}})");
  EXPECT_TRUE(where("n = 10", m));
  EXPECT_FALSE(where("n = 11", m));
  EXPECT_TRUE(where("n <> 11", m));
  EXPECT_TRUE(where("n != 11", m));
  EXPECT_TRUE(where("n > 9.5", m));
  EXPECT_TRUE(where("n >= 10", m));
  EXPECT_FALSE(where("n < 10", m));
  EXPECT_TRUE(where("n <= 10", m));
  EXPECT_TRUE(where("f < 3", m));
  EXPECT_TRUE(where("s = 'abc'", m));
  EXPECT_TRUE(where("s < 'abd'", m));
  EXPECT_TRUE(where("b = true", m));
  EXPECT_TRUE(where("b", m));
  EXPECT_TRUE(where("z = null", m));
  // 64-bit integers compare exactly (a double would make these equal).
  EXPECT_FALSE(where("big = 9007199254740992", m));
  EXPECT_TRUE(where("big > 9007199254740992", m));
  // A numeric string compares as a number; another string does not order against numbers.
  EXPECT_TRUE(where("ns = 12", m));
  EXPECT_TRUE(where("ns > 11", m));
  EXPECT_FALSE(where("s > 1", m));
  EXPECT_FALSE(where("NOT (s > 1)", m));
  EXPECT_FALSE(where("s = 1", m));
  EXPECT_TRUE(where("s <> 1", m));
  // Booleans and objects: equality only.
  EXPECT_FALSE(where("b > false", m));
  EXPECT_FALSE(where("o = 1", m));
  // Keywords are case-insensitive.
  EXPECT_TRUE(where("n = 10 and s = 'abc' Or FALSE", m));
}

TEST(RuleSql, WhereLogicIsThreeValued) {
  Message m = withPayload(R"({"t": 1})");
  EXPECT_FALSE(where("missing = 1", m));
  EXPECT_FALSE(where("NOT (missing = 1)", m));  // NOT Undefined is Undefined
  EXPECT_FALSE(where("missing = 1 AND t = 1", m));
  EXPECT_TRUE(where("missing = 1 OR t = 1", m));   // true decides OR
  EXPECT_FALSE(where("missing = 1 OR t = 2", m));  // Undefined, not false... both falsy
  EXPECT_TRUE(where("NOT (missing = 1 AND t = 2)", m));  // false decides AND
  EXPECT_TRUE(where("(t = 1 OR t = 2) AND NOT t = 2", m));
  EXPECT_FALSE(where("t", m));  // a number is not true
}

TEST(RuleSql, DeepPayloadsAreNotJson) {
  std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_FALSE(parsePayload(deep).has_value());
  EXPECT_TRUE(parsePayload(std::string(10, '[') + std::string(10, ']')).has_value());
  // Brackets inside strings do not count.
  EXPECT_TRUE(parsePayload(R"({"s": ")" + std::string(100, '[') + R"("})").has_value());
}

TEST(RuleSql, ExpressionsForTemplates) {
  auto e = parseExpression("topic(3)");
  ASSERT_TRUE(e.ok());
  Message m = withPayload("{}");
  EXPECT_EQ(renderValue(e->evaluate(m.context())), "sensor7");
  auto bad = parseExpression("topic(");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kSqlParse);
  EXPECT_EQ(renderValue(std::nullopt), "");
  EXPECT_EQ(renderValue(json(3)), "3");
  EXPECT_EQ(renderValue(json::parse(R"({"a":true})")), R"({"a":true})");
}

}  // namespace
}  // namespace fleetgate::rules
