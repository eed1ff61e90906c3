#include "tools/joule/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <set>
#include <map>
#include <sstream>

namespace joule::cli {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string type_name(OptionType t) {
  switch (t) {
    case OptionType::kInt: return "an integer";
    case OptionType::kFloat: return "a number";
    case OptionType::kBool: return "true or false";
    case OptionType::kString: return "a string";
    case OptionType::kChoice: return "one of the listed values";
  }
  return "?";
}

bool parse_double(const std::string& s, double& out) {
  if (s == "inf" || s == "+inf") return out = INFINITY, true;
  if (s == "-inf") return out = -INFINITY, true;
  try {
    size_t pos = 0;
    out = std::stod(s, &pos);
    return pos == s.size() && std::isfinite(out);
  } catch (...) {
    return false;
  }
}

bool parse_bool(const std::string& s, bool& out) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), ::tolower);
  if (l == "true" || l == "1" || l == "yes" || l == "on") return out = true, true;
  if (l == "false" || l == "0" || l == "no" || l == "off") return out = false, true;
  return false;
}

std::string format_bound(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Validates `value` against `spec`; returns the normalised text or throws UsageError.
std::string normalise(const OptionSpec& spec, const std::string& value, const std::string& origin) {
  auto fail = [&](const std::string& why) -> std::string {
    throw UsageError(origin + ": bad value '" + value + "' for '" + spec.key + "': " + why);
  };
  std::string out = value;
  switch (spec.type) {
    case OptionType::kInt: {
      double d;
      if (!parse_double(value, d) || d != std::floor(d) || std::abs(d) > 9.0e15) fail("expected an integer");
      std::ostringstream os;
      os << static_cast<int64_t>(d);
      out = os.str();
      if ((spec.min && d < *spec.min) || (spec.max && d > *spec.max)) {
        fail("must be in [" + (spec.min ? format_bound(*spec.min) : "-inf") + ", " +
             (spec.max ? format_bound(*spec.max) : "inf") + "]");
      }
      break;
    }
    case OptionType::kFloat: {
      double d;
      if (!parse_double(value, d)) fail("expected a number (e.g. 0.01, 1e-3, inf)");
      if ((spec.min && d < *spec.min) || (spec.max && d > *spec.max)) {
        fail("must be in [" + (spec.min ? format_bound(*spec.min) : "-inf") + ", " +
             (spec.max ? format_bound(*spec.max) : "inf") + "]");
      }
      break;
    }
    case OptionType::kBool: {
      bool b;
      if (!parse_bool(value, b)) fail("expected true or false");
      out = b ? "true" : "false";
      break;
    }
    case OptionType::kChoice: {
      if (std::find(spec.choices.begin(), spec.choices.end(), value) == spec.choices.end()) {
        const std::string near = closest_match(value, spec.choices);
        fail("allowed values are " + join(spec.choices, ", ") + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
      break;
    }
    case OptionType::kString: break;
  }
  if (spec.validate) {
    const std::string why = spec.validate(out);
    if (!why.empty()) fail(why);
  }
  return out;
}

bool applies_to(const OptionSpec& spec, const std::string& command) {
  return spec.commands.empty() || std::find(spec.commands.begin(), spec.commands.end(), command) != spec.commands.end();
}

// Parses one TOML value (the right-hand side of key = value).
std::string parse_toml_value(const std::string& raw, const std::string& origin) {
  const std::string v = trim(raw);
  if (v.empty()) throw UsageError(origin + ": missing value after '='");
  if (v[0] == '"') {
    std::string out;
    size_t i = 1;
    for (; i < v.size() && v[i] != '"'; ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) {
        const char c = v[++i];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        out += v[i];
      }
    }
    if (i >= v.size()) throw UsageError(origin + ": unterminated string " + v);
    if (!trim(v.substr(i + 1)).empty()) throw UsageError(origin + ": unexpected text after the string: " + v);
    return out;
  }
  if (v[0] == '\'') {
    const size_t end = v.find('\'', 1);
    if (end == std::string::npos) throw UsageError(origin + ": unterminated string " + v);
    if (!trim(v.substr(end + 1)).empty()) throw UsageError(origin + ": unexpected text after the string: " + v);
    return v.substr(1, end - 1);
  }
  if (v[0] == '[' || v[0] == '{') throw UsageError(origin + ": arrays and inline tables are not used by Joule options");
  return v;  // number, boolean or bare word: checked by the option's type
}

// Removes a # comment that is not inside a string.
std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  return line;
}

}  // namespace

// ------------------------------------------------------------------ option builders

OptionSpec int_option(std::string key, int64_t def, std::string help, c10::optional<double> min, c10::optional<double> max) {
  OptionSpec s;
  s.key = std::move(key);
  s.type = OptionType::kInt;
  s.default_value = std::to_string(def);
  s.help = std::move(help);
  s.min = min;
  s.max = max;
  return s;
}

OptionSpec float_option(std::string key, double def, std::string help, c10::optional<double> min,
                        c10::optional<double> max) {
  OptionSpec s;
  s.key = std::move(key);
  s.type = OptionType::kFloat;
  std::ostringstream os;
  os << std::setprecision(10) << def;
  s.default_value = std::isinf(def) ? (def > 0 ? "inf" : "-inf") : os.str();
  s.help = std::move(help);
  s.min = min;
  s.max = max;
  return s;
}

OptionSpec bool_option(std::string key, bool def, std::string help) {
  OptionSpec s;
  s.key = std::move(key);
  s.type = OptionType::kBool;
  s.default_value = def ? "true" : "false";
  s.help = std::move(help);
  return s;
}

OptionSpec string_option(std::string key, std::string def, std::string help) {
  OptionSpec s;
  s.key = std::move(key);
  s.type = OptionType::kString;
  s.default_value = std::move(def);
  s.help = std::move(help);
  return s;
}

OptionSpec choice_option(std::string key, std::string def, std::vector<std::string> choices, std::string help) {
  OptionSpec s;
  s.key = std::move(key);
  s.type = OptionType::kChoice;
  s.default_value = std::move(def);
  s.choices = std::move(choices);
  s.help = std::move(help);
  return s;
}

// ------------------------------------------------------------------ Registry

Registry& Registry::add(OptionSpec spec) {
  if (index_.count(spec.key)) throw std::logic_error("option declared twice: " + spec.key);
  normalise(spec, spec.default_value, "default of " + spec.key);  // a bad default is a programming error
  index_[spec.key] = options_.size();
  for (const auto& a : spec.aliases) {
    if (index_.count(a)) throw std::logic_error("option alias declared twice: " + a);
    index_[a] = options_.size();
  }
  options_.push_back(std::move(spec));
  return *this;
}

Registry& Registry::extend_choices(const std::string& key, const std::vector<std::string>& more) {
  auto it = index_.find(key);
  if (it == index_.end() || options_[it->second].type != OptionType::kChoice) {
    throw std::logic_error("extend_choices: '" + key + "' is not a declared choice option");
  }
  auto& choices = options_[it->second].choices;
  for (const auto& c : more) if (std::find(choices.begin(), choices.end(), c) == choices.end()) choices.push_back(c);
  return *this;
}

const OptionSpec* Registry::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &options_[it->second];
}

std::string Registry::suggest(const std::string& key) const {
  std::vector<std::string> names;
  for (const auto& kv : index_) names.push_back(kv.first);
  std::string best = closest_match(key, names);
  // Also try the part after the section ("stepsize" -> "sampler.step_size").
  if (best.empty()) {
    std::vector<std::string> leaves;
    for (const auto& o : options_) leaves.push_back(o.key.substr(o.key.find('.') + 1));
    const std::string leaf = closest_match(key.substr(key.find('.') + 1), leaves);
    for (const auto& o : options_) if (!leaf.empty() && o.key.substr(o.key.find('.') + 1) == leaf) return o.key;
  }
  if (const OptionSpec* s = find(best)) return s->key;
  return best;
}

std::string Registry::help(const std::string& command) const {
  std::ostringstream os;
  std::string section = "\x01";
  for (const auto& o : options_) {
    if (!applies_to(o, command)) continue;
    const auto dot = o.key.find('.');
    const std::string sec = dot == std::string::npos ? "" : o.key.substr(0, dot);
    if (sec != section) {
      os << "\n" << (sec.empty() ? "general" : "[" + sec + "]") << "\n";
      section = sec;
    }
    std::string name = "  " + o.key;
    for (const auto& a : o.aliases) name += ", --" + a;
    os << std::left << std::setw(34) << name << " " << o.help;
    if (o.type == OptionType::kChoice) os << " {" << join(o.choices, "|") << "}";
    os << " [default: " << (o.default_value.empty() ? "\"\"" : o.default_value) << "]\n";
  }
  return os.str();
}

// ------------------------------------------------------------------ Config

Config::Config(std::string command, const Registry& registry) : command_(std::move(command)), registry_(&registry) {
  for (const auto& o : registry_->options()) {
    if (!applies_to(o, command_)) continue;
    values_[o.key] = o.default_value;
    origins_[o.key] = "default";
  }
}

const OptionSpec& Config::spec(const std::string& key) const {
  const OptionSpec* s = registry_->find(key);
  if (!s) throw std::logic_error("Joule bug: option '" + key + "' is not declared");
  return *s;
}

void Config::set(const std::string& key, const std::string& value, const std::string& origin) {
  const OptionSpec* s = registry_->find(key);
  if (!s) {
    const std::string near = registry_->suggest(key);
    throw UsageError(origin + ": unknown option '" + key + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                     "; see 'joule " + command_ + " --help' for the list");
  }
  if (!applies_to(*s, command_)) {
    throw UsageError(origin + ": option '" + s->key + "' does not apply to 'joule " + command_ + "' (it is used by: " +
                     join(s->commands, ", ") + ")");
  }
  values_[s->key] = normalise(*s, value, origin);
  origins_[s->key] = origin;
}

void Config::load_string(const std::string& text, const std::string& origin) {
  std::istringstream in(text);
  std::string line, section;
  int lineno = 0;
  std::set<std::string> seen;
  while (std::getline(in, line)) {
    ++lineno;
    const std::string where = origin + ":" + std::to_string(lineno);
    const std::string l = trim(strip_comment(line));
    if (l.empty()) continue;
    if (l.front() == '[') {
      if (l.back() != ']' || l.size() < 3) throw UsageError(where + ": malformed section header '" + l + "'");
      section = trim(l.substr(1, l.size() - 2));
      continue;
    }
    const auto eq = l.find('=');
    if (eq == std::string::npos) throw UsageError(where + ": expected 'key = value', got '" + l + "'");
    std::string key = trim(l.substr(0, eq));
    if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'')) key = key.substr(1, key.size() - 2);
    if (key.empty()) throw UsageError(where + ": missing key before '='");
    const std::string full = section.empty() ? key : section + "." + key;
    if (!seen.insert(full).second) throw UsageError(where + ": '" + full + "' is set twice in this file");
    set(full, parse_toml_value(l.substr(eq + 1), where), where);
  }
}

void Config::load_file(const std::string& path) {
  std::ifstream f(path);
  if (!f.good()) throw UsageError("cannot read config file '" + path + "' (does it exist?)");
  std::stringstream ss;
  ss << f.rdbuf();
  load_string(ss.str(), path);
}

const std::string& Config::raw(const std::string& key) const {
  auto it = values_.find(spec(key).key);
  if (it == values_.end()) throw std::logic_error("Joule bug: option '" + key + "' is not available to 'joule " + command_ + "'");
  return it->second;
}

int64_t Config::get_int(const std::string& key) const { return std::stoll(raw(key)); }

double Config::get_float(const std::string& key) const {
  double d = 0;
  parse_double(raw(key), d);
  return d;
}

bool Config::get_bool(const std::string& key) const { return raw(key) == "true"; }

std::string Config::get_string(const std::string& key) const { return raw(key); }

bool Config::is_set(const std::string& key) const {
  auto it = origins_.find(spec(key).key);
  return it != origins_.end() && it->second != "default";
}

std::string Config::to_toml() const {
  // One table per section, in the order sections first appear in the registry (methods register
  // options of shared sections such as [eval] later: a table must not be opened twice, which
  // strict TOML readers reject); top-level keys first, before any table.
  std::vector<std::string> order;
  std::map<std::string, std::ostringstream> tables;
  for (const auto& o : registry_->options()) {
    auto it = values_.find(o.key);
    if (it == values_.end()) continue;
    const auto dot = o.key.find('.');
    const std::string sec = dot == std::string::npos ? "" : o.key.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? o.key : o.key.substr(dot + 1);
    if (!tables.count(sec)) order.push_back(sec);
    auto& os = tables[sec];
    os << leaf << " = ";
    if (o.type == OptionType::kString || o.type == OptionType::kChoice) {
      os << '"';
      for (char c : it->second) os << (c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c));
      os << '"';
    } else {
      os << it->second;
    }
    os << "\n";
  }
  std::ostringstream out;
  out << "# Resolved Joule configuration (every option, defaults included).\n";
  if (tables.count("")) out << tables[""].str();
  for (const auto& sec : order) {
    if (!sec.empty()) out << "\n[" << sec << "]\n" << tables[sec].str();
  }
  return out.str();
}

// ------------------------------------------------------------------ suggestions

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_match(const std::string& s, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(s, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Plausible typo: at most a third of the longer string, and at least 2 edits allowed.
  const size_t limit = std::max<size_t>(2, std::max(s.size(), best.size()) / 3);
  return best_d <= limit ? best : "";
}

}  // namespace joule::cli
