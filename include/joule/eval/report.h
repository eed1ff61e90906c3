#pragma once
// An evaluation report: named numbers with a note each, printed as a table and written as
// JSON (eval.json). Every method's evaluate() returns one.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace joule::eval {

struct ReportLine {
  std::string name;
  double value = 0;
  std::string note;
};

struct Report {
  std::string method;
  int64_t step = 0;
  std::vector<ReportLine> lines;
  /// An optional markdown table of the same numbers (JEM's comparison with a baseline).
  std::string table;

  void add(const std::string& name, double value, const std::string& note = "") { lines.push_back({name, value, note}); }
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
