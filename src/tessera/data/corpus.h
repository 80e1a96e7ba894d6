// The text corpus behind `tessera data prepare`: which files are read and how their text is cut into
// documents (the unit that is assigned to train or val and closed by an eos token).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tessera/core/status.h"

namespace tessera {

// The files to read, in order. Each input is a file (taken as given) or a directory, walked
// recursively: its regular files (symlinks are not followed, so Debian's fortunes/*.u8 links are not
// read twice), sorted by path, skipping *.dat, *.u8, *.gz and binary-looking files. Errors name a
// missing input, a binary file named explicitly, and the case where nothing readable is left.
StatusOr<std::vector<std::string>> list_corpus_files(const std::vector<std::string>& inputs);

// True when the first 8 KiB of `bytes` hold a NUL byte or more than 30% control bytes (other than
// tab, newline, carriage return, form feed, backspace, escape): a shard, an index or an image.
bool looks_binary(std::string_view bytes);

// Cuts text into documents: a line that is empty, only whitespace, or "%" (the separator of fortune
// files) ends the current document. A document is its lines joined by '\n' (no trailing newline; a
// '\r' before '\n' is dropped); empty documents are dropped. A loop over DocumentReader
// (document_reader.h), which reads files in chunks with the same rule.
std::vector<std::string> split_documents(std::string_view text);

}  // namespace tessera
