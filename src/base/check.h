#pragma once

#include <cstdio>
#include <cstdlib>

// CHECK is for broken invariants only: it aborts, it is never a user-facing error.
#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
