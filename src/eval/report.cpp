#include "joule/eval/report.h"

#include <c10/util/Exception.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <iomanip>

namespace joule::eval {

bool Report::has(const std::string& name) const {
  for (const auto& l : lines) {
    if (l.name == name) return true;
  }
  return false;
}

double Report::value(const std::string& name) const {
  for (const auto& l : lines) {
    if (l.name == name) return l.value;
  }
  std::string known;
  for (const auto& l : lines) known += (known.empty() ? "" : ", ") + l.name;
  TORCH_CHECK(false, "the report has no value '", name, "' (it has: ", known, ")");
}

void Report::print(std::ostream& os) const {
  size_t width = 0;
  for (const auto& l : lines) width = std::max(width, l.name.size());
  const auto flags = os.flags();
  const auto precision = os.precision();
  for (const auto& l : lines) {
    os << "  " << std::left << std::setw(int(width) + 2) << l.name << std::right << std::setw(12) << std::setprecision(5)
       << l.value << "   " << l.note << "\n";
  }
  os.flags(flags);
  os.precision(precision);
}

std::string Report::to_json() const {
  nlohmann::ordered_json j;
  j["step"] = step;
  j["method"] = method;
  auto metrics = nlohmann::ordered_json::object();
  auto notes = nlohmann::ordered_json::object();
  for (const auto& l : lines) {
    if (std::isfinite(l.value)) {
      metrics[l.name] = l.value;
    } else {
      metrics[l.name] = nullptr;
    }
    notes[l.name] = l.note;
  }
  j["metrics"] = metrics;
  j["notes"] = notes;
  return j.dump(2) + "\n";
}

Report Report::from_json(const std::string& text) {
  auto j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  TORCH_CHECK(j.is_object() && j.contains("metrics") && j["metrics"].is_object(), "not a Joule evaluation report (eval.json)");
  Report r;
  if (j.contains("step") && j["step"].is_number()) r.step = j["step"].get<int64_t>();
  if (j.contains("method") && j["method"].is_string()) r.method = j["method"].get<std::string>();
  for (const auto& [name, value] : j["metrics"].items()) {
    std::string note;
    if (j.contains("notes") && j["notes"].contains(name) && j["notes"][name].is_string()) note = j["notes"][name].get<std::string>();
    r.lines.push_back({name, value.is_number() ? value.get<double>() : std::nan(""), note});
  }
  return r;
}

}  // namespace joule::eval
