#pragma once
// Typed options, declared once.
//
// Every options struct of a method lists its fields in one member `void visit(config::Fields&)`:
//
//   struct SamplerConfig {
//     int64_t steps = 20;
//     double step_size = 0.01;
//     void visit(config::Fields& f) {
//       f("steps", steps, config::Doc("transitions per training step").min(0));
//       f("step_size", step_size, config::Doc("Langevin step a").min(1e-12));
//     }
//   };
//
// That one declaration is the schema (`schema()`: keys, types, defaults = the struct's own
// member initialisers, help, allowed values), the reader (`read()`: a TOML document into the
// struct, with errors that name the key, the file and line, and the closest valid key), the
// writer (`to_toml()`: the resolved configuration) and the validator (`validate()`: values set
// from C++). The pattern is llama.cpp's `common/arg.h` (each option declared once and bound to a
// typed field); the TOML side is toml++ (src/config/).

#include <c10/util/Optional.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace joule::config {

/// A mistake in a configuration (unknown key, bad value, bad file): the CLI exits with code 2
/// and writes nothing.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a field means and which values it accepts.
class Doc {
 public:
  /// A Doc with help text `help` and no constraints; implicit, so a plain string documents a field.
  Doc(const char* help) : help_(help) {}  // NOLINT: implicit, so a plain string documents a field
  /// \copydoc Doc(const char*)
  Doc(std::string help) : help_(std::move(help)) {}  // NOLINT
  /// Inclusive numeric bounds (for lists: of every element).
  Doc& min(double v) { min_ = v; return *this; }
  /// \copydoc min(double)
  Doc& max(double v) { max_ = v; return *this; }
  /// Allowed values of a string field (or of every element of a string list).
  Doc& choices(std::vector<std::string> values) { choices_ = std::move(values); return *this; }
  /// Accept ±inf (e.g. "inf = off" for a clamp); otherwise a non-finite number is a bad value.
  Doc& allow_inf() { allow_inf_ = true; return *this; }
  /// An extra command-line name, e.g. "seed" for run.seed (`--seed 3`).
  Doc& alias(std::string name) { aliases_.push_back(std::move(name)); return *this; }

  /// The help text.
  const std::string& help() const { return help_; }
  /// The inclusive lower bound, if any.
  const c10::optional<double>& min() const { return min_; }
  /// The inclusive upper bound, if any.
  const c10::optional<double>& max() const { return max_; }
  /// The allowed string values (empty: any).
  const std::vector<std::string>& choices() const { return choices_; }
  /// Extra command-line names.
  const std::vector<std::string>& aliases() const { return aliases_; }
  /// Whether ±inf is accepted.
  bool inf_allowed() const { return allow_inf_; }

 private:
  bool allow_inf_ = false;
  std::string help_;
  c10::optional<double> min_, max_;
  std::vector<std::string> choices_;
  std::vector<std::string> aliases_;
};

/// The value type of a field (kTableList: an array of tables, see Fields::list()).
enum class FieldType { kInt, kFloat, kBool, kString, kIntList, kFloatList, kStringList, kTableList };
/// "integer", "number", "true or false", "string", "list of integers", ...
std::string type_name(FieldType type);

class Fields;

/// Type-erased access to a std::vector<T> of sub-options (an array of tables, [[key]] in TOML).
class ListAccess {
 public:
  virtual ~ListAccess() = default;
  /// The number of items.
  virtual size_t size() const = 0;
  virtual void resize(size_t n) = 0;  ///< new items are default-constructed T
  /// Visits the fields of item `i`.
  virtual void visit(size_t i, Fields& f) = 0;
  /// Visits a default-constructed item (the schema of one element).
  virtual void visit_prototype(Fields& f) = 0;
};

/// The visitor an options struct's `visit()` declares its fields to. Implementations collect the
/// schema, read a document, write TOML or validate values (src/config/options.cpp).
class Fields {
 public:
  virtual ~Fields() = default;

  ///@{
  /// Declares the field `key` (relative to the current section) bound to `v` and described by `doc`.
  void operator()(const std::string& key, int64_t& v, const Doc& doc) { on_int(path(key), v, doc); }
  void operator()(const std::string& key, double& v, const Doc& doc) { on_float(path(key), v, doc); }
  void operator()(const std::string& key, bool& v, const Doc& doc) { on_bool(path(key), v, doc); }
  void operator()(const std::string& key, std::string& v, const Doc& doc) { on_string(path(key), v, doc); }
  void operator()(const std::string& key, std::vector<int64_t>& v, const Doc& doc) { on_int_list(path(key), v, doc); }
  void operator()(const std::string& key, std::vector<double>& v, const Doc& doc) { on_float_list(path(key), v, doc); }
  void operator()(const std::string& key, std::vector<std::string>& v, const Doc& doc) {
    on_string_list(path(key), v, doc);
  }
  ///@}

  /// The fields of `part` (a struct with visit(Fields&)) under the section `key`.
  template <typename T>
  void section(const std::string& key, T& part) {
    prefix_.push_back(key);
    part.visit(*this);
    prefix_.pop_back();
  }

  /// An array of tables: `items` is a std::vector<T> of structs with visit(Fields&).
  template <typename T>
  void list(const std::string& key, std::vector<T>& items, const Doc& doc) {
    struct Access : ListAccess {
      explicit Access(std::vector<T>& v) : items(v) {}
      size_t size() const override { return items.size(); }
      void resize(size_t n) override { items.resize(n); }
      void visit(size_t i, Fields& f) override { items[i].visit(f); }
      void visit_prototype(Fields& f) override {
        T proto;
        proto.visit(f);
      }
      std::vector<T>& items;
    } access(items);
    on_list(path(key), access, doc);
  }

 protected:
  ///@{
  /// Handles one field of that type; `key` is the full dotted key.
  virtual void on_int(const std::string& key, int64_t& v, const Doc& doc) = 0;
  virtual void on_float(const std::string& key, double& v, const Doc& doc) = 0;
  virtual void on_bool(const std::string& key, bool& v, const Doc& doc) = 0;
  virtual void on_string(const std::string& key, std::string& v, const Doc& doc) = 0;
  virtual void on_int_list(const std::string& key, std::vector<int64_t>& v, const Doc& doc) = 0;
  virtual void on_float_list(const std::string& key, std::vector<double>& v, const Doc& doc) = 0;
  virtual void on_string_list(const std::string& key, std::vector<std::string>& v, const Doc& doc) = 0;
  ///@}
  /// Handles an array of tables; `items` gives access to its elements.
  virtual void on_list(const std::string& key, ListAccess& items, const Doc& doc) = 0;

  /// The dotted key of `leaf` in the current section.
  std::string path(const std::string& leaf) const {
    std::string out;
    for (const auto& p : prefix_) out += p + ".";
    return out + leaf;
  }
  /// The open sections, outermost first (pushed by section()).
  std::vector<std::string> prefix_;
};

/// Anything with fields: a function that declares them to a Fields visitor.
using Visit = std::function<void(Fields&)>;

/// Wraps a struct's visit() (the struct must outlive the returned function).
template <typename T>
Visit visit_of(T& options) {
  return [&options](Fields& f) { options.visit(f); };
}

/// One field of a schema.
struct FieldInfo {
  std::string key;  ///< dotted; elements of an array of tables appear as "key[].field"
  FieldType type = FieldType::kString;  ///< the value type
  std::string default_text;  ///< the value at the time the schema was taken, as TOML
  Doc doc = "";  ///< help text and allowed values
};

/// The fields `visit` declares, in declaration order, with their current values as defaults.
/// Visits the given object: pass a default-constructed one for the defaults.
std::vector<FieldInfo> schema(const Visit& visit);

/// Help text for a schema: one line per field, grouped by section, with default and allowed values.
std::string help_text(const std::vector<FieldInfo>& fields);

/// The valid key closest to `key` (edit distance; also matching the part after the section),
/// or "" if none is plausibly a typo of it.
std::string suggest_key(const std::string& key, const std::vector<FieldInfo>& fields);

/// The Levenshtein distance between `a` and `b`.
size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate closest to `s`, or "" if none is within max(2, ⌊longer length / 3⌋) edits.
std::string closest_match(const std::string& s, const std::vector<std::string>& candidates);

/// A configuration document: a TOML table (from a file, a string or command-line overrides)
/// that remembers where each value came from ("configs/x.toml:12", "command line").
class Document {
 public:
  Document();
  /// A copy is independent: setting a key in it leaves the original as it was.
  Document(const Document& other);
  /// Replaces this document by an independent copy of `other`.
  Document& operator=(const Document& other);
  /// Moves (cheap).
  Document(Document&&) noexcept = default;
  /// Moves (cheap).
  Document& operator=(Document&&) noexcept = default;
  /// Parses a TOML file; a missing file or a syntax error is a ConfigError naming file:line.
  static Document from_file(const std::string& path);
  /// Parses TOML text; `origin` names it in messages (a file name, "saved config", ...).
  static Document from_string(const std::string& text, const std::string& origin);

  /// Sets a dotted key from command-line text: parsed as a TOML value when it is one (numbers,
  /// booleans, quoted strings, [arrays]), else taken as a bare string.
  void set(const std::string& key, const std::string& value, const std::string& origin = "command line");
  /// `other`'s values replace this document's.
  void merge(const Document& other);
  /// Whether the dotted `key` has a value (or is a table).
  bool has(const std::string& key) const;
  /// Removes the dotted `key` and its origin; nothing happens if it is absent.
  void erase(const std::string& key);
  /// The value at `key` as text (strings unquoted, other values as TOML), or `fallback`.
  std::string get_text(const std::string& key, const std::string& fallback = "") const;
  /// Where the value of `key` came from, e.g. "configs/x.toml:12".
  std::string origin(const std::string& key) const;
  /// Every leaf key (dotted; arrays of tables count as one leaf), in source order.
  std::vector<std::string> keys() const;
  /// The document as TOML text.
  std::string to_toml() const;

  /// The parsed TOML table and the origins of values (defined in src/config/options.cpp).
  struct Impl;
  /// The implementation, for the reader in src/config.
  const Impl& impl() const { return *impl_; }
  /// \copydoc impl() const
  Impl& impl() { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

/// Options for read().
struct ReadOptions {
  /// Keys in the document that the visit does not declare are errors unless listed here.
  std::vector<std::string> ignore;
  /// Read only the declared fields and ignore every other key (e.g. [run] of any method).
  bool ignore_unknown = false;
  /// Extra help for an unknown key, e.g. "it is an option of method 'rbm'": key -> hint.
  std::function<std::string(const std::string&)> hint;
};

/// Reads `doc` into the fields `visit` declares; fields the document does not set keep their
/// values. Every value is checked against its type and Doc (range, choices). Throws ConfigError
/// naming the key, where it was set, and the closest valid key for unknown ones.
void read(const Visit& visit, const Document& doc, const ReadOptions& options = {});

/// The current values of the fields as a TOML document (every field, defaults included).
std::string to_toml(const Visit& visit, const std::string& header = "");

/// Checks the current values against their Docs (range, choices); throws ConfigError naming
/// the first bad key. For options set from C++ rather than read from a document.
void validate(const Visit& visit);

/// The names of the presets shipped with Joule (configs/*.toml, compiled into the library).
std::vector<std::string> preset_names();
/// The TOML text of a preset; throws ConfigError (naming the closest preset) if unknown.
const std::string& preset_text(const std::string& name);
/// The preset as a document.
Document preset(const std::string& name);

}  // namespace joule::config
