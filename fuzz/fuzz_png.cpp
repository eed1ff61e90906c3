// read_png on arbitrary bytes (the frames of the user's video sequences, data/video.h). libpng
// reports errors by longjmp; this checks that every such path ends in a c10::Error without a
// leak, and that a decoded image holds exactly height x width RGB pixels.
#include <c10/util/Exception.h>

#include "fuzz_support.h"
#include "joule/io/png.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = joule::fuzz::scratch_file("frame.png");
  joule::fuzz::write_file(path, data, size);
  try {
    const auto png = joule::io::read_png(path);
    const auto& im = png.image;
    if (im.height <= 0 || im.width <= 0 || im.rgb.size() != static_cast<size_t>(im.height * im.width * 3) ||
        (png.channels != 1 && png.channels != 3))
      __builtin_trap();
    if (png.channels == 1) {
      for (size_t i = 0; i < im.rgb.size(); i += 3)
        if (im.rgb[i] != im.rgb[i + 1] || im.rgb[i] != im.rgb[i + 2]) __builtin_trap();
    }
  } catch (const c10::Error&) {
  }
  return 0;
}
