#pragma once
// One option registry for the CLI, config files and key=value overrides.
//
// Every option is declared once (key, type, default, help, allowed values, bounds) in
// options_*.cpp; `joule <command> --help`, TOML config files and overrides all go through it,
// so an unknown key or a bad value is caught in one place, with the closest valid key named.

#include <c10/util/Optional.h>

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace joule::cli {

/// A mistake in the user's input (config, override, command line): exit code 2, nothing written.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class OptionType { kInt, kFloat, kBool, kString, kChoice };

struct OptionSpec {
  std::string key;            ///< dotted name, e.g. "sampler.step_size"
  OptionType type = OptionType::kString;
  std::string default_value;  ///< as text, parsed like user input
  std::string help;
  std::vector<std::string> choices;    ///< allowed values for kChoice
  c10::optional<double> min, max;      ///< inclusive numeric bounds
  std::vector<std::string> commands;   ///< commands that accept it ("train", "sample", ...); empty = all
  std::vector<std::string> aliases;    ///< extra names on the command line, e.g. "device"
  /// Extra check on the text value; returns an error message or "".
  std::function<std::string(const std::string&)> validate;
};

/// Builders for readable declarations in options_*.cpp.
OptionSpec int_option(std::string key, int64_t def, std::string help, c10::optional<double> min = c10::nullopt,
                      c10::optional<double> max = c10::nullopt);
OptionSpec float_option(std::string key, double def, std::string help, c10::optional<double> min = c10::nullopt,
                        c10::optional<double> max = c10::nullopt);
OptionSpec bool_option(std::string key, bool def, std::string help);
OptionSpec string_option(std::string key, std::string def, std::string help);
OptionSpec choice_option(std::string key, std::string def, std::vector<std::string> choices, std::string help);

class Registry {
 public:
  /// Every option Joule knows.
  static const Registry& global();

  Registry& add(OptionSpec spec);
  /// Adds allowed values to a choice option declared elsewhere (e.g. a method adding its
  /// datasets to data.dataset).
  Registry& extend_choices(const std::string& key, const std::vector<std::string>& more);
  const OptionSpec* find(const std::string& key_or_alias) const;
  const std::vector<OptionSpec>& options() const { return options_; }
  /// The valid key closest to `key` (for "did you mean"), or "" if nothing is close.
  std::string suggest(const std::string& key) const;
  /// Help text for the options of one command, grouped by section.
  std::string help(const std::string& command) const;

 private:
  std::vector<OptionSpec> options_;
  std::map<std::string, size_t> index_;
};

/// Resolved option values (defaults, then config file, then overrides) for one command.
class Config {
 public:
  explicit Config(std::string command = "train", const Registry& registry = Registry::global());

  /// Sets a value from user input; `origin` names where it came from for error messages
  /// ("configs/x.toml:12", "command line"). Throws UsageError on unknown keys or bad values.
  void set(const std::string& key, const std::string& value, const std::string& origin);
  /// Reads a TOML file ([section] headers, key = value, # comments; strings, numbers, booleans).
  void load_file(const std::string& path);
  /// Parses a TOML document from text (`origin` is used in messages).
  void load_string(const std::string& text, const std::string& origin);

  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  /// True if the value came from a file or the command line rather than the default.
  bool is_set(const std::string& key) const;
  const std::string& command() const { return command_; }

  /// The resolved configuration as TOML, every key of this command with its value.
  std::string to_toml() const;

 private:
  const OptionSpec& spec(const std::string& key) const;
  const std::string& raw(const std::string& key) const;

  std::string command_;
  const Registry* registry_;  // pointer, so that configs can be copied
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> origins_;
};

/// Levenshtein distance (for suggestions).
size_t edit_distance(const std::string& a, const std::string& b);
/// The candidate closest to `s`, or "" if none is within a plausible typo distance.
std::string closest_match(const std::string& s, const std::vector<std::string>& candidates);

}  // namespace joule::cli
