#include "store/database.h"

namespace fleetgate::store {

std::int64_t Row::integer(std::size_t i) const {
  if (auto* v = std::get_if<std::int64_t>(&values_[i])) return *v;
  if (auto* d = std::get_if<double>(&values_[i])) return static_cast<std::int64_t>(*d);
  return 0;
}

double Row::real(std::size_t i) const {
  if (auto* d = std::get_if<double>(&values_[i])) return *d;
  if (auto* v = std::get_if<std::int64_t>(&values_[i])) return static_cast<double>(*v);
  return 0;
}

std::string Row::text(std::size_t i) const {
  if (auto* s = std::get_if<std::string>(&values_[i])) return *s;
  if (auto* v = std::get_if<std::int64_t>(&values_[i])) return std::to_string(*v);
  return {};
}

std::optional<std::string> Row::optionalText(std::size_t i) const {
  if (isNull(i)) return std::nullopt;
  return text(i);
}

Result<std::optional<Row>> Transaction::queryOne(std::string_view sql,
                                                 const std::vector<Value>& params) {
  FG_ASSIGN_OR_RETURN(auto rows, query(sql, params));
  if (rows.empty()) return std::optional<Row>();
  return std::optional<Row>(std::move(rows.front()));
}

}  // namespace fleetgate::store
