// read_csv on arbitrary bytes, with the option combinations the methods use.
#include <c10/util/Exception.h>

#include "fuzz_support.h"
#include "joule/data/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = joule::fuzz::scratch_file("table.csv");
  joule::fuzz::write_file(path, data, size);
  using joule::data::CsvOptions;
  for (const auto& options : {CsvOptions(), CsvOptions().label_column("-1"), CsvOptions().label_column("label"),
                              CsvOptions().whitespace(true).header(joule::data::CsvHeader::kNo).label_column("0"),
                              CsvOptions().delimiter(';').allow_nan(true)}) {
    try {
      auto t = joule::data::read_csv(path, options);
      // What a successful read promises.
      if (t.features.dim() != 2 || t.features.size(0) == 0) __builtin_trap();
      if (t.labels.defined() && t.labels.size(0) != t.features.size(0)) __builtin_trap();
    } catch (const c10::Error&) {
    }
  }
  return 0;
}
