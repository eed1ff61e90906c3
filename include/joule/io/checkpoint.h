#pragma once
// File helpers for checkpoints and run folders: atomic writes and clear errors on bad files.

#include <torch/serialize/archive.h>

#include <string>

namespace joule::io {

/// Serialises `archive` to `path` atomically: the bytes go to `path.tmp`, reach the disk (fsync)
/// and are renamed over `path` only when complete, so neither a crash nor a power loss leaves a
/// truncated checkpoint behind.
void save_archive(torch::serialize::OutputArchive& archive, const std::string& path);

/// Serialises an archive to bytes (used for in-memory snapshots).
std::string archive_to_bytes(torch::serialize::OutputArchive& archive);

/// Loads `path` into `archive`; a missing, unreadable, truncated, corrupted (any record failing
/// its CRC-32) or foreign file is an error that names the path and the likely cause.
void load_archive(torch::serialize::InputArchive& archive, const std::string& path);
/// Loads bytes written by archive_to_bytes() into `archive` (no integrity check; see
/// verify_archive_bytes()).
void load_archive_from_bytes(torch::serialize::InputArchive& archive, const std::string& bytes);

/// Checks a LibTorch archive's zip structure and every record's CRC-32 (LibTorch's own reader
/// skips them). Returns "" when intact, otherwise what is wrong.
std::string verify_archive_bytes(const std::string& bytes);

/// Writes text atomically (same scheme as save_archive): the bytes go to `path.tmp`, are fsynced,
/// renamed over `path`, and the folder is fsynced.
void write_text_file(const std::string& path, const std::string& text);
/// Reads a whole text file; error naming the path if it cannot.
std::string read_text_file(const std::string& path);
/// True when `path` exists (any kind of file).
bool file_exists(const std::string& path);

}  // namespace joule::io
