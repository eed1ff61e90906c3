#pragma once
// An evaluation report: named numbers with a note each, printed as a table and written as
// JSON (eval.json). Every method's evaluate() returns one.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace joule::eval {

/// One named number of a Report.
struct ReportLine {
  std::string name;   ///< metric name (the JSON key)
  double value = 0;   ///< the number; NaN / ±inf are written as null
  std::string note;   ///< short explanation (may be empty)
};

/// An evaluation report: named numbers with notes, for one method at one training step.
struct Report {
  std::string method;             ///< the method evaluated
  int64_t step = 0;               ///< training step the report belongs to
  std::vector<ReportLine> lines;  ///< the numbers, in insertion order
  /// An optional markdown table of the same numbers (JEM's comparison with a baseline).
  std::string table;

  /// Appends a line.
  void add(const std::string& name, double value, const std::string& note = "") { lines.push_back({name, value, note}); }
  /// True when a line is called `name`.
  bool has(const std::string& name) const;
  /// The value called `name`; an error naming the known ones if there is none.
  double value(const std::string& name) const;
  /// The lines as an aligned table: name, value, note.
  void print(std::ostream& os) const;
  /// {"step": N, "method": "...", "metrics": {name: value|null}, "notes": {name: note}} —
  /// strict JSON (NaN and ±inf become null).
  std::string to_json() const;
  /// Reads what to_json() wrote (null values come back as NaN).
  static Report from_json(const std::string& text);
};

}  // namespace joule::eval
