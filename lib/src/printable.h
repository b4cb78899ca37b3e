// Printable: bytes from users or from shared memory made safe to show in
// one line of text (error messages, sluicectl tables).
#ifndef SLUICE_SRC_PRINTABLE_H_
#define SLUICE_SRC_PRINTABLE_H_

#include <string>
#include <string_view>

namespace sluice {

// `s` with every byte outside printable ASCII (0x20..0x7e) written as \xNN:
// no NUL (which would cut a C string), no control sequences, no newline.
std::string Printable(std::string_view s);

// True if `s` holds a NUL or another ASCII control byte (0x00..0x1f, 0x7f).
bool HasControlBytes(std::string_view s);

}  // namespace sluice

#endif  // SLUICE_SRC_PRINTABLE_H_
