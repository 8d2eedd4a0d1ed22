// Minimal SHA-256 (FIPS 180-4) so the runner can report the identity of the .pte it ran.
#pragma once

#include <string>

namespace bench {

// Hex digest of a file's bytes; empty string when the file cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace bench
