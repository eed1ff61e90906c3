#!/usr/bin/env python3
"""Reads a run folder's TensorBoard event files with the real `tensorboard` package and prints
what it found as one JSON object (used by tests/integration/test_tensorboard_interop.cpp).

Exit code 77 (with the reason on stderr) when the tensorboard package cannot be imported, so that
the C++ test can report a visible skip rather than a pass."""
import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator as ea
except Exception as e:  # ImportError, or a broken install
    print(f"the tensorboard Python package is not importable: {e!r}", file=sys.stderr)
    sys.exit(77)

acc = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
acc.Reload()
tags = acc.Tags()
out = {"scalars": {}, "images": {}, "histograms": {}, "texts": {}}
for tag in tags.get("scalars", []):
    out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
for tag in tags.get("images", []):
    out["images"][tag] = [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(tag)]
for tag in tags.get("histograms", []):
    out["histograms"][tag] = [[e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max,
                               sum(e.histogram_value.bucket)] for e in acc.Histograms(tag)]
for tag in tags.get("tensors", []):
    events = acc.Tensors(tag)
    plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
    out["texts"][tag] = [[e.step, plugin, b"".join(e.tensor_proto.string_val).decode()] for e in events]
print(json.dumps(out))
