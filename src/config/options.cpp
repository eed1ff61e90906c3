// The TOML side of joule/config/options.h, on toml++ (the only translation unit that includes it:
// toml++ is header-only and costs a few seconds per file).
#include "joule/config/options.h"

// toml++ turns off std::to_chars/from_chars for floats under GCC by default; libstdc++ 11+ has
// them, and they give the shortest round-trip text (0.05, not 0.050000000000000003).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && !defined(TOML_FLOAT_CHARCONV)
#define TOML_FLOAT_CHARCONV 1
#endif
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace joule::config {

struct Document::Impl {
  toml::table root;
  std::map<std::string, std::string> origins;  // values set from outside a file
  std::vector<std::string> set_order;          // keys set by set(), in order
};

namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : key) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  for (const auto& p : parts) {
    if (p.empty()) throw ConfigError("malformed option name '" + key + "' (empty part between dots)");
  }
  return parts;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

const toml::node* find_node(const toml::table& root, const std::string& key) {
  const toml::node* node = &root;
  for (const auto& part : split_key(key)) {
    const auto* table = node->as_table();
    if (!table) return nullptr;
    node = table->get(part);
    if (!node) return nullptr;
  }
  return node;
}

std::string source_of(const toml::node& node) {
  const auto& src = node.source();
  std::string where = src.path ? std::string(*src.path) : std::string("config");
  if (src.begin.line > 0) where += ":" + std::to_string(src.begin.line);
  return where;
}

// A scalar node as TOML text (strings quoted).
std::string node_toml(const toml::node& node) {
  std::ostringstream os;
  node.visit([&](auto&& n) { os << n; });
  return os.str();
}

// A scalar node as plain text (strings unquoted).
std::string node_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  return node_toml(node);
}

// Leaf keys (non-table values; arrays of tables count as leaves) with their source lines.
void collect_leaves(const toml::table& table, const std::string& prefix, std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto&& [k, v] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* t = v.as_table()) {
      collect_leaves(*t, key, out);
    } else {
      out.emplace_back(key, &v);
    }
  }
}

std::string format_double(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os << toml::value<double>(v);
  return os.str();
}

std::string bounds_text(const Doc& doc) {
  auto num = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  return "[" + (doc.min() ? num(*doc.min()) : std::string("-inf")) + ", " + (doc.max() ? num(*doc.max()) : std::string("inf")) +
         "]";
}

// Range and choice checks shared by the reader and the validator; returns "" or the reason.
std::string check_number(double v, const Doc& doc) {
  // ±inf only where an option documents it (Doc::allow_inf): lr = inf is a typo, not a setting.
  if (std::isinf(v) && !doc.inf_allowed()) return "expected a finite number";
  if ((doc.min() && v < *doc.min()) || (doc.max() && v > *doc.max())) return "must be in " + bounds_text(doc);
  return "";
}

std::string check_choice(const std::string& v, const Doc& doc) {
  if (doc.choices().empty() || std::find(doc.choices().begin(), doc.choices().end(), v) != doc.choices().end()) {
    return "";
  }
  const std::string near = closest_match(v, doc.choices());
  return "allowed values are " + join(doc.choices(), ", ") + (near.empty() ? "" : " (did you mean '" + near + "'?)");
}

// ------------------------------------------------------------------ schema

class SchemaCollector : public Fields {
 public:
  std::vector<FieldInfo> fields;

 protected:
  void add(const std::string& key, FieldType type, std::string text, const Doc& doc) {
    fields.push_back(FieldInfo{key, type, std::move(text), doc});
  }
  void on_int(const std::string& k, int64_t& v, const Doc& d) override { add(k, FieldType::kInt, std::to_string(v), d); }
  void on_float(const std::string& k, double& v, const Doc& d) override { add(k, FieldType::kFloat, format_double(v), d); }
  void on_bool(const std::string& k, bool& v, const Doc& d) override { add(k, FieldType::kBool, v ? "true" : "false", d); }
  void on_string(const std::string& k, std::string& v, const Doc& d) override {
    std::ostringstream os;
    os << toml::value<std::string>(v);
    add(k, FieldType::kString, os.str(), d);
  }
  void on_int_list(const std::string& k, std::vector<int64_t>& v, const Doc& d) override {
    std::vector<std::string> items;
    for (auto x : v) items.push_back(std::to_string(x));
    add(k, FieldType::kIntList, "[" + join(items, ", ") + "]", d);
  }
  void on_float_list(const std::string& k, std::vector<double>& v, const Doc& d) override {
    std::vector<std::string> items;
    for (auto x : v) items.push_back(format_double(x));
    add(k, FieldType::kFloatList, "[" + join(items, ", ") + "]", d);
  }
  void on_string_list(const std::string& k, std::vector<std::string>& v, const Doc& d) override {
    std::vector<std::string> items;
    for (const auto& x : v) {
      std::ostringstream os;
      os << toml::value<std::string>(x);
      items.push_back(os.str());
    }
    add(k, FieldType::kStringList, "[" + join(items, ", ") + "]", d);
  }
  void on_list(const std::string& k, ListAccess& items, const Doc& d) override {
    add(k, FieldType::kTableList, std::to_string(items.size()) + " item(s)", d);
    SchemaCollector element;
    element.prefix_ = {k + "[]"};
    items.visit_prototype(element);
    fields.insert(fields.end(), element.fields.begin(), element.fields.end());
  }
};

// ------------------------------------------------------------------ writer

void insert_at(toml::table& root, const std::string& key, toml::node&& value);

class TomlWriter : public Fields {
 public:
  toml::table root;

 protected:
  template <typename T>
  void put(const std::string& k, T value) {
    insert_at(root, k, toml::value<T>(std::move(value)));
  }
  void on_int(const std::string& k, int64_t& v, const Doc&) override { put<int64_t>(k, v); }
  void on_float(const std::string& k, double& v, const Doc&) override { put<double>(k, v); }
  void on_bool(const std::string& k, bool& v, const Doc&) override { put<bool>(k, v); }
  void on_string(const std::string& k, std::string& v, const Doc&) override { put<std::string>(k, v); }
  void on_int_list(const std::string& k, std::vector<int64_t>& v, const Doc&) override {
    toml::array a;
    for (auto x : v) a.push_back(x);
    insert_at(root, k, std::move(a));
  }
  void on_float_list(const std::string& k, std::vector<double>& v, const Doc&) override {
    toml::array a;
    for (auto x : v) a.push_back(x);
    insert_at(root, k, std::move(a));
  }
  void on_string_list(const std::string& k, std::vector<std::string>& v, const Doc&) override {
    toml::array a;
    for (const auto& x : v) a.push_back(x);
    insert_at(root, k, std::move(a));
  }
  void on_list(const std::string& k, ListAccess& items, const Doc&) override {
    toml::array a;
    for (size_t i = 0; i < items.size(); ++i) {
      TomlWriter element;
      items.visit(i, element);
      a.push_back(std::move(element.root));
    }
    insert_at(root, k, std::move(a));
  }
};

void insert_at(toml::table& root, const std::string& key, toml::node&& value) {
  auto parts = split_key(key);
  toml::table* table = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto* next = table->get(parts[i]);
    if (!next) {
      table->insert(parts[i], toml::table{});
      next = table->get(parts[i]);
    }
    if (!next->is_table()) throw ConfigError("'" + join(std::vector<std::string>(parts.begin(), parts.begin() + i + 1), ".") +
                                             "' is a value, so '" + key + "' cannot be set below it");
    table = next->as_table();
  }
  toml::node* existing = table->get(parts.back());
  if (existing && existing->is_table()) {
    throw ConfigError("'" + key + "' is a section of options, not a value");
  }
  value.visit([&](auto&& v) { table->insert_or_assign(parts.back(), std::move(v)); });
}

// ------------------------------------------------------------------ reader

class Reader : public Fields {
 public:
  Reader(const toml::table& root, const Document* doc, std::string label_prefix)
      : root_(root), doc_(doc), label_prefix_(std::move(label_prefix)) {}
  std::set<std::string> used;

 protected:
  // The node for `key`, or null (and the key is marked as read).
  const toml::node* find(const std::string& key) {
    const toml::node* node = find_node(root_, key);
    if (node) used.insert(key);
    return node;
  }
  std::string where(const std::string& key, const toml::node& node) const {
    if (doc_) return doc_->origin(key);
    return source_of(node);
  }
  [[noreturn]] void fail(const std::string& key, const toml::node& node, const std::string& why) const {
    throw ConfigError(where(key, node) + ": bad value " + node_toml(node) + " for '" + label_prefix_ + key + "': " + why);
  }

  void on_int(const std::string& k, int64_t& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    v = to_int(k, *n, d);
  }
  void on_float(const std::string& k, double& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    v = to_float(k, *n, d);
  }
  void on_bool(const std::string& k, bool& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    if (const auto* b = n->as_boolean()) {
      v = b->get();
      return;
    }
    std::string s = n->is_string() ? n->as_string()->get() : node_toml(*n);
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    if (s == "true" || s == "yes" || s == "on" || s == "1") {
      v = true;
    } else if (s == "false" || s == "no" || s == "off" || s == "0") {
      v = false;
    } else {
      fail(k, *n, "expected true or false");
    }
  }
  void on_string(const std::string& k, std::string& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    if (n->is_table() || n->is_array()) fail(k, *n, "expected a string");
    v = to_string(k, *n, d);
  }
  void on_int_list(const std::string& k, std::vector<int64_t>& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    v.clear();
    for_each_item(k, *n, [&](const toml::node& item) { v.push_back(to_int(k, item, d)); });
  }
  void on_float_list(const std::string& k, std::vector<double>& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    v.clear();
    for_each_item(k, *n, [&](const toml::node& item) { v.push_back(to_float(k, item, d)); });
  }
  void on_string_list(const std::string& k, std::vector<std::string>& v, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    v.clear();
    if (const auto* s = n->as_string()) {
      // "a,b,c" (and "[a, b]" from a command line) read as a list of strings.
      std::string text = trim(s->get());
      if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        item = trim(item);
        if (item.size() >= 2 && (item.front() == '"' || item.front() == '\'') && item.back() == item.front()) {
          item = item.substr(1, item.size() - 2);
        }
        if (item.empty()) continue;
        const std::string why = check_choice(item, d);
        if (!why.empty()) fail(k, *n, why);
        v.push_back(item);
      }
      return;
    }
    for_each_item(k, *n, [&](const toml::node& item) { v.push_back(to_string(k, item, d)); });
  }
  void on_list(const std::string& k, ListAccess& items, const Doc& d) override {
    const auto* n = find(k);
    if (!n) return;
    const auto* arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) fail(k, *n, "expected an array of tables ([[" + k + "]] sections)");
    items.resize(arr->size());
    SchemaCollector prototype;
    items.visit_prototype(prototype);
    for (size_t i = 0; i < arr->size(); ++i) {
      const auto& table = *arr->get(i)->as_table();
      Reader element(table, nullptr, label_prefix_ + k + "[" + std::to_string(i) + "].");
      element.declared = prototype.fields;
      items.visit(i, element);
      element.check_unused(nullptr);
    }
  }

 public:
  // Throws for the first key of the document that no field declared.
  void check_unused(const ReadOptions* options) const {
    std::vector<std::pair<std::string, const toml::node*>> leaves;
    collect_leaves(root_, "", leaves);
    std::vector<std::pair<std::string, const toml::node*>> unknown;
    for (const auto& leaf : leaves) {
      if (used.count(leaf.first)) continue;
      if (options && std::find(options->ignore.begin(), options->ignore.end(), leaf.first) != options->ignore.end()) continue;
      unknown.push_back(leaf);
    }
    if (unknown.empty()) return;
    // The first in source order (values set on the command line have no line: last).
    auto line_of = [](const toml::node* n) {
      const auto l = n->source().begin.line;
      return l > 0 ? static_cast<uint64_t>(l) : std::numeric_limits<uint64_t>::max();
    };
    std::stable_sort(unknown.begin(), unknown.end(),
                     [&](const auto& a, const auto& b) { return line_of(a.second) < line_of(b.second); });
    const auto& [key, node] = unknown.front();
    std::vector<FieldInfo> known;
    for (const auto& k : used) known.push_back(FieldInfo{k, FieldType::kString, "", ""});
    known.insert(known.end(), declared.begin(), declared.end());
    const std::string near = suggest_key(key, known);
    std::string msg = where(key, *node) + ": unknown option '" + label_prefix_ + key + "'";
    const std::string h = options && options->hint ? options->hint(key) : "";
    // A hint that names the key's new spelling makes the suggestion redundant.
    if (!near.empty() && h.find("'" + near + "'") == std::string::npos) msg += " (did you mean '" + label_prefix_ + near + "'?)";
    if (!h.empty()) msg += "; " + h;
    if (unknown.size() > 1) {
      std::vector<std::string> rest;
      for (size_t i = 1; i < unknown.size() && i <= 4; ++i) rest.push_back(label_prefix_ + unknown[i].first);
      if (unknown.size() > 5) rest.push_back("and " + std::to_string(unknown.size() - 5) + " more");
      msg += " (also unknown: " + join(rest, ", ") + ")";
    }
    throw ConfigError(msg);
  }
  std::vector<FieldInfo> declared;  // every declared key, for suggestions

 private:
  int64_t to_int(const std::string& k, const toml::node& n, const Doc& d) const {
    double x = 0;
    if (const auto* i = n.as_integer()) {
      x = static_cast<double>(i->get());
      const std::string why = check_number(x, d);
      if (!why.empty()) fail(k, n, why);
      return i->get();
    }
    if (const auto* f = n.as_floating_point()) {
      x = f->get();
    } else if (const auto* s = n.as_string()) {
      try {
        size_t pos = 0;
        x = std::stod(s->get(), &pos);
        if (pos != s->get().size()) fail(k, n, "expected an integer");
      } catch (const std::logic_error&) {
        fail(k, n, "expected an integer");
      }
    } else {
      fail(k, n, "expected an integer");
    }
    if (!std::isfinite(x) || x != std::floor(x) || std::abs(x) > 9.0e15) fail(k, n, "expected an integer");
    const std::string why = check_number(x, d);
    if (!why.empty()) fail(k, n, why);
    return static_cast<int64_t>(x);
  }
  double to_float(const std::string& k, const toml::node& n, const Doc& d) const {
    double x = 0;
    if (const auto* i = n.as_integer()) {
      x = static_cast<double>(i->get());
    } else if (const auto* f = n.as_floating_point()) {
      x = f->get();
    } else if (const auto* s = n.as_string()) {
      const std::string t = trim(s->get());
      if (t == "inf" || t == "+inf") {
        x = INFINITY;
      } else if (t == "-inf") {
        x = -INFINITY;
      } else {
        try {
          size_t pos = 0;
          x = std::stod(t, &pos);
          if (pos != t.size()) fail(k, n, "expected a number (e.g. 0.01, 1e-3)");
        } catch (const std::logic_error&) {
          fail(k, n, "expected a number (e.g. 0.01, 1e-3)");
        }
      }
    } else {
      fail(k, n, "expected a number (e.g. 0.01, 1e-3)");
    }
    if (std::isnan(x)) fail(k, n, "expected a number, not nan");
    const std::string why = check_number(x, d);
    if (!why.empty()) fail(k, n, why);
    return x;
  }
  std::string to_string(const std::string& k, const toml::node& n, const Doc& d) const {
    if (n.is_table() || n.is_array()) fail(k, n, "expected a string");
    const std::string v = node_text(n);
    const std::string why = check_choice(v, d);
    if (!why.empty()) fail(k, n, why);
    return v;
  }
  template <typename F>
  void for_each_item(const std::string& k, const toml::node& n, F&& f) const {
    if (const auto* arr = n.as_array()) {
      for (const auto& item : *arr) {
        if (item.is_table() || item.is_array()) fail(k, n, "expected a list of values");
        f(item);
      }
    } else if (!n.is_table()) {
      f(n);  // a single value is a one-element list
    } else {
      fail(k, n, "expected a list");
    }
  }

  const toml::table& root_;
  const Document* doc_;
  std::string label_prefix_;
};

// ------------------------------------------------------------------ validator

class Validator : public Fields {
 protected:
  [[noreturn]] void fail(const std::string& k, const std::string& value, const std::string& why) {
    throw ConfigError("bad value " + value + " for '" + k + "': " + why);
  }
  void number(const std::string& k, double v, const Doc& d) {
    if (std::isnan(v)) fail(k, "nan", "expected a number");
    const std::string why = check_number(v, d);
    if (!why.empty()) fail(k, format_double(v), why);
  }
  void choice(const std::string& k, const std::string& v, const Doc& d) {
    const std::string why = check_choice(v, d);
    if (!why.empty()) fail(k, "'" + v + "'", why);
  }
  void on_int(const std::string& k, int64_t& v, const Doc& d) override { number(k, double(v), d); }
  void on_float(const std::string& k, double& v, const Doc& d) override { number(k, v, d); }
  void on_bool(const std::string&, bool&, const Doc&) override {}
  void on_string(const std::string& k, std::string& v, const Doc& d) override { choice(k, v, d); }
  void on_int_list(const std::string& k, std::vector<int64_t>& v, const Doc& d) override {
    for (auto x : v) number(k, double(x), d);
  }
  void on_float_list(const std::string& k, std::vector<double>& v, const Doc& d) override {
    for (auto x : v) number(k, x, d);
  }
  void on_string_list(const std::string& k, std::vector<std::string>& v, const Doc& d) override {
    for (const auto& x : v) choice(k, x, d);
  }
  void on_list(const std::string& k, ListAccess& items, const Doc&) override {
    for (size_t i = 0; i < items.size(); ++i) {
      Validator element;
      element.prefix_ = {k + "[" + std::to_string(i) + "]"};
      items.visit(i, element);
    }
  }
};

}  // namespace

// ------------------------------------------------------------------ free functions

std::vector<FieldInfo> schema(const Visit& visit) {
  SchemaCollector c;
  visit(c);
  return c.fields;
}

// ------------------------------------------------------------------ Document

Document::Document() : impl_(std::make_shared<Impl>()) {}

// Deep: a shared table would let one copy's set() change the other (and race between threads).
Document::Document(const Document& other) : impl_(std::make_shared<Impl>(*other.impl_)) {}

Document& Document::operator=(const Document& other) {
  if (this != &other) impl_ = std::make_shared<Impl>(*other.impl_);
  return *this;
}

Document Document::from_string(const std::string& text, const std::string& origin) {
  Document doc;
  try {
    doc.impl_->root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    std::ostringstream os;
    os << origin;
    if (src.begin.line > 0) os << ":" << src.begin.line << ":" << src.begin.column;
    os << ": " << e.description();
    throw ConfigError(os.str());
  }
  return doc;
}

Document Document::from_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ConfigError("config file '" + path + "' is a folder, not a TOML file");
  std::ifstream f(path);
  // A missing or unreadable file is a runtime error (the CLI's exit code 1), not a usage error.
  if (!f.good()) throw std::runtime_error("cannot read config file '" + path + "' (does it exist?)");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  // Editors on Windows may start the file with a UTF-8 byte-order mark, which TOML does not allow.
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  return from_string(text, path);
}

void Document::set(const std::string& key, const std::string& value, const std::string& origin) {
  split_key(key);  // validates the name
  // A TOML value if the text is one ("3", "1e-3", "true", "\"x\"", "[1, 2]"), else a bare string.
  bool parsed = false;
  try {
    auto t = toml::parse("v = " + value);
    if (auto* node = t.get("v")) {
      toml::node* n = node;
      n->visit([&](auto&& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, toml::table>) {
          // an inline table: set as a section
          insert_at(impl_->root, key, toml::table(v));
        } else {
          insert_at(impl_->root, key, V(v));
        }
      });
      parsed = true;
    }
  } catch (const toml::parse_error&) {
  }
  if (!parsed) insert_at(impl_->root, key, toml::value<std::string>(value));
  impl_->origins[key] = origin;
  impl_->set_order.push_back(key);
}

void Document::merge(const Document& other) {
  std::vector<std::pair<std::string, const toml::node*>> leaves;
  collect_leaves(other.impl_->root, "", leaves);
  for (const auto& leaf : leaves) {
    const std::string& key = leaf.first;  // a plain reference: C++17 lambdas cannot capture structured bindings
    leaf.second->visit([&](auto&& v) {
      using V = std::decay_t<decltype(v)>;
      insert_at(impl_->root, key, V(v));
    });
    impl_->origins[key] = other.origin(key);
  }
}

bool Document::has(const std::string& key) const { return find_node(impl_->root, key) != nullptr; }

void Document::erase(const std::string& key) {
  auto parts = split_key(key);
  toml::table* table = &impl_->root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto* next = table->get(parts[i]);
    if (!next || !next->is_table()) return;
    table = next->as_table();
  }
  table->erase(parts.back());
  impl_->origins.erase(key);
}

std::string Document::get_text(const std::string& key, const std::string& fallback) const {
  const auto* node = find_node(impl_->root, key);
  return node ? node_text(*node) : fallback;
}

std::string Document::origin(const std::string& key) const {
  auto it = impl_->origins.find(key);
  if (it != impl_->origins.end()) return it->second;
  const auto* node = find_node(impl_->root, key);
  return node ? source_of(*node) : "config";
}

std::vector<std::string> Document::keys() const {
  std::vector<std::pair<std::string, const toml::node*>> leaves;
  collect_leaves(impl_->root, "", leaves);
  std::vector<std::string> out;
  for (const auto& l : leaves) out.push_back(l.first);
  return out;
}

std::string Document::to_toml() const {
  std::ostringstream os;
  os << impl_->root;
  return os.str();
}

// ------------------------------------------------------------------ read / write / validate

void read(const Visit& visit, const Document& doc, const ReadOptions& options) {
  Reader reader(doc.impl().root, &doc, "");
  reader.declared = schema(visit);
  visit(reader);
  if (!options.ignore_unknown) reader.check_unused(&options);
}

std::string to_toml(const Visit& visit, const std::string& header) {
  TomlWriter w;
  visit(w);
  std::ostringstream os;
  if (!header.empty()) os << header;
  // Top-level values first, then one table per section (toml++ prints them in key order).
  os << w.root << "\n";
  return os.str();
}

void validate(const Visit& visit) {
  Validator v;
  visit(v);
}

}  // namespace joule::config
