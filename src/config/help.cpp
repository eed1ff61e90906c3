// The parts of joule/config/options.h that need no TOML parser: type names, help text,
// spelling suggestions and the compiled-in presets.
#include <iomanip>
#include <map>
#include <sstream>

#include "joule/config/options.h"

namespace joule::config {
namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

}  // namespace

std::string type_name(FieldType type) {
  switch (type) {
    case FieldType::kInt: return "integer";
    case FieldType::kFloat: return "number";
    case FieldType::kBool: return "true or false";
    case FieldType::kString: return "string";
    case FieldType::kIntList: return "list of integers";
    case FieldType::kFloatList: return "list of numbers";
    case FieldType::kStringList: return "list of strings";
    case FieldType::kTableList: return "array of tables";
  }
  return "?";
}

std::string help_text(const std::vector<FieldInfo>& fields) {
  std::ostringstream os;
  std::string section = "\x01";
  for (const auto& f : fields) {
    const auto dot = f.key.find('.');
    const std::string sec = dot == std::string::npos ? "" : f.key.substr(0, dot);
    if (sec != section) {
      os << "\n" << (sec.empty() ? "general" : "[" + sec + "]") << "\n";
      section = sec;
    }
    std::string name = "  " + f.key;
    for (const auto& a : f.doc.aliases()) name += ", --" + a;
    os << std::left << std::setw(34) << name << " " << f.doc.help();
    if (!f.doc.choices().empty()) os << " {" << join(f.doc.choices(), "|") << "}";
    os << " [default: " << f.default_text << "]\n";
  }
  return os.str();
}

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
  // A plausible typo: at most a third of the longer string, and at least 2 edits allowed.
  const size_t limit = std::max<size_t>(2, std::max(s.size(), best.size()) / 3);
  return best_d <= limit ? best : "";
}

std::string suggest_key(const std::string& key, const std::vector<FieldInfo>& fields) {
  std::vector<std::string> names;
  for (const auto& f : fields) {
    names.push_back(f.key);
    for (const auto& a : f.doc.aliases()) names.push_back(a);
  }
  std::string best = closest_match(key, names);
  if (best.empty()) {
    // The part after the section ("stepsize" -> "sampler.step_size").
    auto leaf = [](const std::string& k) { return k.substr(k.rfind('.') + 1); };
    std::vector<std::string> leaves;
    for (const auto& f : fields) leaves.push_back(leaf(f.key));
    const std::string l = closest_match(leaf(key), leaves);
    // Short leaves are a third of their length apart at most ("dir" is not "lr").
    const bool plausible = !l.empty() && edit_distance(leaf(key), l) <= std::max<size_t>(1, leaf(key).size() / 3);
    const std::string section = key.substr(0, key.rfind('.') + 1);
    std::string other;
    for (const auto& f : fields) {
      if (!plausible || leaf(f.key) != l) continue;
      if (f.key.compare(0, section.size(), section) == 0) return f.key;  // the same section first
      if (other.empty()) other = f.key;
    }
    if (!other.empty()) return other;
  }
  for (const auto& f : fields) {
    for (const auto& a : f.doc.aliases()) {
      if (a == best) return f.key;
    }
  }
  return best;
}

// ------------------------------------------------------------------ presets

const std::map<std::string, std::string>& preset_table();  // generated from configs/*.toml

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& kv : preset_table()) names.push_back(kv.first);
  return names;
}

const std::string& preset_text(const std::string& name) {
  const auto& table = preset_table();
  auto it = table.find(name);
  if (it == table.end()) {
    const std::string near = closest_match(name, preset_names());
    throw ConfigError("unknown preset '" + name + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
                      "; presets: " + join(preset_names(), ", "));
  }
  return it->second;
}

Document preset(const std::string& name) { return Document::from_string(preset_text(name), "preset " + name); }

}  // namespace joule::config
