#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace fleetgate::store {

using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

// One result row; columns in SELECT order.
class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  bool isNull(std::size_t i) const { return std::holds_alternative<std::nullptr_t>(values_[i]); }
  std::int64_t integer(std::size_t i) const;  // 0 for NULL
  double real(std::size_t i) const;
  std::string text(std::size_t i) const;      // "" for NULL
  std::optional<std::string> optionalText(std::size_t i) const;
  std::size_t size() const { return values_.size(); }

 private:
  std::vector<Value> values_;
};

// SQL with `?` placeholders. Backends translate the placeholder style they need.
class Transaction {
 public:
  virtual ~Transaction() = default;
  // Runs a statement; returns the number of rows it changed.
  virtual Result<std::int64_t> exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
  virtual Result<std::vector<Row>> query(std::string_view sql,
                                         const std::vector<Value>& params = {}) = 0;
  Result<std::optional<Row>> queryOne(std::string_view sql, const std::vector<Value>& params = {});
};

// A registry store. write() runs `body` in one serialized, durable transaction: committed
// when it returns ok, rolled back entirely otherwise. read() runs on a consistent snapshot.
class Database {
 public:
  virtual ~Database() = default;
  virtual Status write(const std::function<Status(Transaction&)>& body) = 0;
  virtual Status read(const std::function<Status(Transaction&)>& body) = 0;
};

// A forward-only schema change; `version` numbers start at 1 and never change meaning.
struct Migration {
  int version;
  std::string_view sql;  // may hold several statements
};

}  // namespace fleetgate::store
