#include "rules/sql.h"

#include <charconv>
#include <cmath>
#include <fmt/format.h>

#include "mqtt/topic.h"

namespace fleetgate::rules {

using nlohmann::json;

enum class Function { kTopic, kClientId, kTimestamp, kPrincipal };
enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

struct PathSegment {
  std::string name;                  // a member name, or empty for an index
  std::size_t index = 0;
};

struct Node {
  enum class Kind { kLiteral, kPath, kFunction, kCompare, kAnd, kOr, kNot };
  Kind kind = Kind::kLiteral;
  json literal;
  std::vector<PathSegment> path;
  Function function = Function::kTopic;
  std::size_t level = 0;  // topic(n); 0 is the whole topic
  CompareOp op = CompareOp::kEq;
  std::vector<NodePtr> children;
};

void NodeDeleter::operator()(Node* node) const { delete node; }

namespace {

// Parentheses and NOTs nest the tree (AND/OR chains do not: they are n-ary), so this bounds
// every recursion over a parsed statement.
constexpr int kMaxNesting = 32;
constexpr std::size_t kMaxSqlBytes = 8192;

NodePtr makeNode(Node::Kind kind) {
  NodePtr node(new Node);
  node->kind = kind;
  return node;
}

// ---- lexer ----

enum class Tok { kIdent, kNumber, kString, kStar, kComma, kDot, kLParen, kRParen, kLBracket,
                 kRBracket, kOp, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, operator, decoded string, number text
  std::size_t position = 0;  // 1-based
};

Error sqlError(std::size_t position, std::string_view what) {
  return Error(ErrorKind::kSqlParse, fmt::format("{} at position {}.", what, position));
}

bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isIdentChar(char c) { return isIdentStart(c) || (c >= '0' && c <= '9'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

Result<std::vector<Token>> lex(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const std::size_t pos = i + 1;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (isIdentStart(c)) {
      std::size_t start = i;
      while (i < text.size() && isIdentChar(text[i])) ++i;
      out.push_back({Tok::kIdent, std::string(text.substr(start, i - start)), pos});
      continue;
    }
    const bool negative_number = c == '-' && i + 1 < text.size() && isDigit(text[i + 1]);
    if (isDigit(c) || negative_number) {
      std::size_t start = i;
      if (negative_number) ++i;
      while (i < text.size() && isDigit(text[i])) ++i;
      if (i < text.size() && text[i] == '.') {
        ++i;
        if (i >= text.size() || !isDigit(text[i])) return sqlError(i + 1, "Expected a digit");
        while (i < text.size() && isDigit(text[i])) ++i;
      }
      if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        if (i >= text.size() || !isDigit(text[i])) return sqlError(i + 1, "Expected an exponent");
        while (i < text.size() && isDigit(text[i])) ++i;
      }
      out.push_back({Tok::kNumber, std::string(text.substr(start, i - start)), pos});
      continue;
    }
    if (c == '\'') {
      std::string value;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char d = text[i];
        if (d == '\\' && i + 1 < text.size()) {
          value += text[i + 1];
          i += 2;
        } else if (d == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          value += '\'';
          i += 2;
        } else if (d == '\'') {
          ++i;
          closed = true;
          break;
        } else {
          value += d;
          ++i;
        }
      }
      if (!closed) return sqlError(pos, "Unterminated string literal");
      out.push_back({Tok::kString, std::move(value), pos});
      continue;
    }
    auto two = text.substr(i, 2);
    if (two == "<>" || two == "!=" || two == "<=" || two == ">=") {
      out.push_back({Tok::kOp, std::string(two), pos});
      i += 2;
      continue;
    }
    Tok kind;
    switch (c) {
      case '*': kind = Tok::kStar; break;
      case ',': kind = Tok::kComma; break;
      case '.': kind = Tok::kDot; break;
      case '(': kind = Tok::kLParen; break;
      case ')': kind = Tok::kRParen; break;
      case '[': kind = Tok::kLBracket; break;
      case ']': kind = Tok::kRBracket; break;
      case '=':
      case '<':
      case '>': kind = Tok::kOp; break;
      default: {
        std::string shown = (static_cast<unsigned char>(c) >= 0x20 &&
                             static_cast<unsigned char>(c) < 0x7f)
                                ? fmt::format("'{}'", c)
                                : fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
        return sqlError(pos, "Unexpected character " + shown);
      }
    }
    out.push_back({kind, std::string(1, c), pos});
    ++i;
  }
  out.push_back({Tok::kEnd, "", text.size() + 1});
  return out;
}

bool keywordIs(const Token& t, std::string_view keyword) {
  if (t.kind != Tok::kIdent || t.text.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < keyword.size(); ++i) {
    char c = t.text[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != keyword[i]) return false;
  }
  return true;
}

bool isReserved(const Token& t) {
  for (std::string_view k : {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "TRUE", "FALSE",
                             "NULL"}) {
    if (keywordIs(t, k)) return true;
  }
  return false;
}

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEnd: return "end of statement";
    case Tok::kString: return "string '" + t.text + "'";
    default: return "'" + t.text + "'";
  }
}

}  // namespace

// ---- parser ----

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<Query> statement() {
    Query query;
    if (!keywordIs(peek(), "SELECT")) return unexpected("expected SELECT");
    next();
    std::size_t n = 0;
    while (true) {
      ++n;
      SelectItem item;
      if (peek().kind == Tok::kStar) {
        next();
        item.star = true;
        item.name = "*";
      } else {
        const bool is_path = peek().kind == Tok::kIdent && !isReserved(peek()) &&
                             tokens_[pos_ + 1].kind != Tok::kLParen;
        const bool is_function = peek().kind == Tok::kIdent &&
                                 tokens_[pos_ + 1].kind == Tok::kLParen;
        std::string first = peek().text;
        FG_ASSIGN_OR_RETURN(NodePtr node, orExpr());
        if (is_path && node->kind == Node::Kind::kPath) {
          for (const auto& s : node->path)
            if (!s.name.empty()) item.name = s.name;
        } else if (is_function && node->kind == Node::Kind::kFunction) {
          item.name = first;
        } else {
          item.name = "_" + std::to_string(n);
        }
        if (keywordIs(peek(), "AS")) {
          next();
          if (peek().kind != Tok::kIdent || isReserved(peek())) {
            return unexpected("expected a name after AS");
          }
          item.name = next().text;
        }
        item.expression = Expression(std::move(node));
      }
      query.items_.push_back(std::move(item));
      if (peek().kind != Tok::kComma) break;
      next();
    }
    if (!keywordIs(peek(), "FROM")) return unexpected("expected ',' or FROM");
    next();
    if (peek().kind != Tok::kString) return unexpected("expected a quoted topic filter after FROM");
    const Token& topic = next();
    if (!mqtt::isValidTopicFilter(topic.text)) {
      return sqlError(topic.position, "Invalid topic filter '" + topic.text + "'");
    }
    query.topic_filter_ = topic.text;
    if (keywordIs(peek(), "WHERE")) {
      next();
      FG_ASSIGN_OR_RETURN(NodePtr where, orExpr());
      query.where_ = Expression(std::move(where));
    }
    if (peek().kind != Tok::kEnd) return unexpected("expected WHERE or end of statement");
    return query;
  }

  Result<Expression> expressionOnly() {
    FG_ASSIGN_OR_RETURN(NodePtr node, orExpr());
    if (peek().kind != Tok::kEnd) return unexpected("expected end of expression");
    return Expression(std::move(node));
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (t.kind != Tok::kEnd) ++pos_;
    return t;
  }
  Error unexpected(std::string_view expectation) const {
    return sqlError(peek().position,
                    fmt::format("Unexpected {}: {}", describe(peek()), expectation));
  }

  Result<NodePtr> orExpr() { return chain("OR", Node::Kind::kOr); }

  // `a OP b OP c` as one n-ary node: long chains add no depth.
  Result<NodePtr> chain(std::string_view keyword, Node::Kind kind) {
    auto operand = [&]() -> Result<NodePtr> {
      return kind == Node::Kind::kOr ? chain("AND", Node::Kind::kAnd) : notExpr();
    };
    FG_ASSIGN_OR_RETURN(NodePtr first, operand());
    if (!keywordIs(peek(), keyword)) return first;
    NodePtr node = makeNode(kind);
    node->children.push_back(std::move(first));
    while (keywordIs(peek(), keyword)) {
      next();
      FG_ASSIGN_OR_RETURN(NodePtr more, operand());
      node->children.push_back(std::move(more));
    }
    return node;
  }

  Result<NodePtr> notExpr() {
    if (!keywordIs(peek(), "NOT")) return comparison();
    const Token& not_token = next();
    if (++depth_ > kMaxNesting) return sqlError(not_token.position, "Nesting is too deep");
    FG_ASSIGN_OR_RETURN(NodePtr operand, notExpr());
    --depth_;
    NodePtr node = makeNode(Node::Kind::kNot);
    node->children.push_back(std::move(operand));
    return node;
  }

  Result<NodePtr> comparison() {
    FG_ASSIGN_OR_RETURN(NodePtr left, primary());
    if (peek().kind != Tok::kOp) return left;
    const std::string op = next().text;
    FG_ASSIGN_OR_RETURN(NodePtr right, primary());
    if (peek().kind == Tok::kOp) return unexpected("comparisons do not chain; use AND");
    NodePtr node = makeNode(Node::Kind::kCompare);
    if (op == "=") node->op = CompareOp::kEq;
    else if (op == "<>" || op == "!=") node->op = CompareOp::kNe;
    else if (op == "<") node->op = CompareOp::kLt;
    else if (op == "<=") node->op = CompareOp::kLe;
    else if (op == ">") node->op = CompareOp::kGt;
    else node->op = CompareOp::kGe;
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return node;
  }

  Result<NodePtr> primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Tok::kLParen: {
        next();
        if (++depth_ > kMaxNesting) return sqlError(t.position, "Nesting is too deep");
        FG_ASSIGN_OR_RETURN(NodePtr inner, orExpr());
        --depth_;
        if (peek().kind != Tok::kRParen) return unexpected("expected ')'");
        next();
        return inner;
      }
      case Tok::kString: {
        NodePtr node = makeNode(Node::Kind::kLiteral);
        node->literal = next().text;
        return node;
      }
      case Tok::kNumber: return number();
      case Tok::kIdent: {
        if (keywordIs(t, "TRUE") || keywordIs(t, "FALSE")) {
          NodePtr node = makeNode(Node::Kind::kLiteral);
          node->literal = keywordIs(next(), "TRUE");
          return node;
        }
        if (keywordIs(t, "NULL")) {
          next();
          return makeNode(Node::Kind::kLiteral);
        }
        if (isReserved(t)) return unexpected("expected an expression");
        if (tokens_[pos_ + 1].kind == Tok::kLParen) return function();
        return path();
      }
      default: return unexpected("expected an expression");
    }
  }

  Result<NodePtr> number() {
    const Token& t = next();
    NodePtr node = makeNode(Node::Kind::kLiteral);
    const bool integral = t.text.find_first_of(".eE") == std::string::npos;
    if (integral) {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
      if (ec == std::errc() && end == t.text.data() + t.text.size()) {
        node->literal = v;
        return node;
      }
    }
    double d = 0;
    auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), d);
    if (ec != std::errc() || end != t.text.data() + t.text.size() || !std::isfinite(d)) {
      return sqlError(t.position, "Number " + t.text + " is out of range");
    }
    node->literal = d;
    return node;
  }

  Result<NodePtr> function() {
    const Token& name = next();
    next();  // '('
    NodePtr node = makeNode(Node::Kind::kFunction);
    const std::string lower = [&] {
      std::string s = name.text;
      for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      return s;
    }();
    if (lower == "topic") {
      node->function = Function::kTopic;
      if (peek().kind == Tok::kNumber) {
        const Token& level = next();
        std::size_t n = 0;
        auto [end, ec] =
            std::from_chars(level.text.data(), level.text.data() + level.text.size(), n);
        if (ec != std::errc() || end != level.text.data() + level.text.size() || n < 1 ||
            n > 256) {
          return sqlError(level.position, "topic() takes a level from 1 to 256");
        }
        node->level = n;
      }
    } else if (lower == "clientid") {
      node->function = Function::kClientId;
    } else if (lower == "timestamp") {
      node->function = Function::kTimestamp;
    } else if (lower == "principal") {
      node->function = Function::kPrincipal;
    } else {
      return sqlError(name.position, "Unsupported function " + name.text +
                                         "() (supported: topic, clientid, timestamp, principal)");
    }
    if (peek().kind != Tok::kRParen) return unexpected("expected ')'");
    next();
    return node;
  }

  Result<NodePtr> path() {
    NodePtr node = makeNode(Node::Kind::kPath);
    node->path.push_back({next().text, 0});
    while (true) {
      if (peek().kind == Tok::kDot) {
        next();
        if (peek().kind != Tok::kIdent) return unexpected("expected a field name after '.'");
        node->path.push_back({next().text, 0});
      } else if (peek().kind == Tok::kLBracket) {
        next();
        if (peek().kind != Tok::kNumber) return unexpected("expected an array index");
        const Token& index = next();
        std::size_t i = 0;
        auto [end, ec] =
            std::from_chars(index.text.data(), index.text.data() + index.text.size(), i);
        if (ec != std::errc() || end != index.text.data() + index.text.size()) {
          return sqlError(index.position, "An array index is a non-negative integer");
        }
        node->path.push_back({"", i});
        if (peek().kind != Tok::kRBracket) return unexpected("expected ']'");
        next();
      } else {
        return node;
      }
    }
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

// ---- evaluation ----

namespace {

Value evaluateNode(const Node& node, const MessageContext& context);

std::optional<double> numberOf(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    double d = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) return d;
  }
  return std::nullopt;
}

Value compare(CompareOp op, const Value& left, const Value& right) {
  if (!left || !right) return std::nullopt;
  const json& l = *left;
  const json& r = *right;
  const bool equality = op == CompareOp::kEq || op == CompareOp::kNe;
  int order = 0;  // <0, 0, >0
  if (l.is_number() && r.is_number()) {
    if (l.is_number_integer() && r.is_number_integer()) {
      // Compared exactly: doubles would round large 64-bit values.
      auto wide = [](const json& v) -> __int128 {
        return v.is_number_unsigned() ? static_cast<__int128>(v.get<std::uint64_t>())
                                      : static_cast<__int128>(v.get<std::int64_t>());
      };
      const __int128 a = wide(l), b = wide(r);
      order = a < b ? -1 : (a > b ? 1 : 0);
    } else {
      double a = l.get<double>(), b = r.get<double>();
      order = a < b ? -1 : (a > b ? 1 : 0);
    }
  } else if (l.is_string() && r.is_string()) {
    int c = l.get_ref<const std::string&>().compare(r.get_ref<const std::string&>());
    order = c < 0 ? -1 : (c > 0 ? 1 : 0);
  } else if ((l.is_number() && r.is_string()) || (l.is_string() && r.is_number())) {
    auto a = numberOf(l);
    auto b = numberOf(r);
    if (!a || !b) {
      if (!equality) return std::nullopt;
      order = 1;  // a string that is not a number differs from every number
    } else {
      order = *a < *b ? -1 : (*a > *b ? 1 : 0);
    }
  } else {
    // Booleans, nulls, objects, arrays and mixed kinds: equality only.
    if (!equality) return std::nullopt;
    order = l == r ? 0 : 1;
  }
  switch (op) {
    case CompareOp::kEq: return json(order == 0);
    case CompareOp::kNe: return json(order != 0);
    case CompareOp::kLt: return json(order < 0);
    case CompareOp::kLe: return json(order <= 0);
    case CompareOp::kGt: return json(order > 0);
    case CompareOp::kGe: return json(order >= 0);
  }
  return std::nullopt;
}

Value topicLevel(std::string_view topic, std::size_t level) {
  if (level == 0) return json(std::string(topic));
  std::size_t start = 0;
  for (std::size_t i = 1; i < level; ++i) {
    auto slash = topic.find('/', start);
    if (slash == std::string_view::npos) return std::nullopt;
    start = slash + 1;
  }
  auto end = topic.find('/', start);
  return json(std::string(topic.substr(start, end == std::string_view::npos ? end : end - start)));
}

Value evaluateNode(const Node& node, const MessageContext& context) {
  switch (node.kind) {
    case Node::Kind::kLiteral: return node.literal;
    case Node::Kind::kPath: {
      if (context.payload == nullptr) return std::nullopt;
      const json* at = context.payload;
      for (const PathSegment& s : node.path) {
        if (!s.name.empty()) {
          if (!at->is_object()) return std::nullopt;
          auto it = at->find(s.name);
          if (it == at->end()) return std::nullopt;
          at = &*it;
        } else {
          if (!at->is_array() || s.index >= at->size()) return std::nullopt;
          at = &(*at)[s.index];
        }
      }
      return *at;
    }
    case Node::Kind::kFunction:
      switch (node.function) {
        case Function::kTopic: return topicLevel(context.topic, node.level);
        case Function::kClientId:
          if (context.client_id.empty()) return std::nullopt;
          return json(std::string(context.client_id));
        case Function::kPrincipal:
          if (context.principal.empty()) return std::nullopt;
          return json(std::string(context.principal));
        case Function::kTimestamp: return json(context.timestamp_ms);
      }
      return std::nullopt;
    case Node::Kind::kCompare:
      return compare(node.op, evaluateNode(*node.children[0], context),
                     evaluateNode(*node.children[1], context));
    case Node::Kind::kNot: {
      Value v = evaluateNode(*node.children[0], context);
      if (!v || !v->is_boolean()) return std::nullopt;
      return json(!v->get<bool>());
    }
    case Node::Kind::kAnd:
    case Node::Kind::kOr: {
      // Three-valued logic: false decides AND, true decides OR, else Undefined wins over the
      // other value.
      const bool is_and = node.kind == Node::Kind::kAnd;
      bool undefined = false;
      for (const NodePtr& child : node.children) {
        Value v = evaluateNode(*child, context);
        if (!v || !v->is_boolean()) {
          undefined = true;
          continue;
        }
        if (v->get<bool>() != is_and) return json(!is_and);
      }
      if (undefined) return std::nullopt;
      return json(is_and);
    }
  }
  return std::nullopt;
}

}  // namespace

Value Expression::evaluate(const MessageContext& context) const {
  if (!root_) return std::nullopt;
  return evaluateNode(*root_, context);
}

bool Query::matches(const MessageContext& context) const {
  if (where_.empty()) return true;
  Value v = where_.evaluate(context);
  return v && v->is_boolean() && v->get<bool>();
}

RuleOutput Query::select(const MessageContext& context, std::string_view raw_payload) const {
  if (items_.size() == 1 && items_[0].star) {
    // AWS passes the payload through untouched (JSON or not).
    return RuleOutput{std::string(raw_payload), context.payload ? *context.payload : json()};
  }
  json object = json::object();
  for (const SelectItem& item : items_) {
    if (item.star) {
      if (context.payload && context.payload->is_object()) {
        for (const auto& [key, value] : context.payload->items()) object[key] = value;
      }
      continue;
    }
    Value v = item.expression.evaluate(context);
    if (v) object[item.name] = std::move(*v);
  }
  std::string body = object.dump(-1, ' ', false, json::error_handler_t::replace);
  return RuleOutput{std::move(body), std::move(object)};
}

Result<Query> parseSql(std::string_view sql) {
  if (sql.empty()) return Error(ErrorKind::kSqlParse, "The SQL statement is empty.");
  if (sql.size() > kMaxSqlBytes) {
    return Error(ErrorKind::kSqlParse, "The SQL statement is longer than 8192 bytes.");
  }
  FG_ASSIGN_OR_RETURN(auto tokens, lex(sql));
  return Parser(std::move(tokens)).statement();
}

Result<Expression> parseExpression(std::string_view text) {
  if (text.size() > kMaxSqlBytes) {
    return Error(ErrorKind::kSqlParse, "The expression is longer than 8192 bytes.");
  }
  FG_ASSIGN_OR_RETURN(auto tokens, lex(text));
  return Parser(std::move(tokens)).expressionOnly();
}

std::string renderValue(const Value& value) {
  if (!value) return {};
  if (value->is_string()) return value->get<std::string>();
  return value->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<json> parsePayload(std::string_view payload, int max_depth) {
  // A linear pre-scan for nesting depth, since the JSON library's dump and comparison recurse.
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    const char c = payload[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return std::nullopt;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  json doc = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (doc.is_discarded()) return std::nullopt;
  return doc;
}

}  // namespace fleetgate::rules
