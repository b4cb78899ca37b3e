// SLUICE_EXPORT marks the symbols of libsluice's public API (the library is
// built with -fvisibility=hidden).
#ifndef SLUICE_EXPORT_H_
#define SLUICE_EXPORT_H_

#if defined(SLUICE_STATIC_DEFINE)
#define SLUICE_EXPORT
#else
#define SLUICE_EXPORT __attribute__((visibility("default")))
#endif

#endif  // SLUICE_EXPORT_H_
