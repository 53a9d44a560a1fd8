// Input: "<rule SQL>\n<payload>" (no newline: the whole input is the SQL, the payload a fixed
// JSON object). Parses the SQL, and when it parses evaluates WHERE and SELECT; also parses the
// input as a `${...}` expression and a substitution template. Any crash, sanitizer report or
// broken invariant (a parse error that is not SqlParseException, a select whose body is not
// JSON) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rules/actions.h"
#include "rules/sql.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace rules = fleetgate::rules;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  std::string_view sql = input.substr(0, newline);
  std::string_view raw = newline == std::string_view::npos
                             ? std::string_view(R"({"a":{"b":[1,"x",true,null]},"n":5})")
                             : input.substr(newline + 1);

  auto payload = rules::parsePayload(raw);
  rules::MessageContext context{"dt/plant/sensor", "client", "principal", 1700000000000,
                                payload ? &*payload : nullptr};

  auto query = rules::parseSql(sql);
  if (!query.ok()) {
    if (query.error().kind() != fleetgate::ErrorKind::kSqlParse) __builtin_trap();
  } else {
    (void)query->matches(context);
    rules::RuleOutput out = query->select(context, raw);
    if (out.object.is_object() &&
        nlohmann::json::parse(out.body, nullptr, false).is_discarded()) {
      __builtin_trap();
    }
  }
  auto expression = rules::parseExpression(sql);
  if (expression.ok()) (void)rules::renderValue(expression->evaluate(context));
  auto tmpl = rules::Template::parse(sql, "fuzz");
  if (tmpl.ok()) (void)tmpl->render(context);
  return 0;
}
