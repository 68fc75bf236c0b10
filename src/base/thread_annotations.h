#pragma once

// Clang thread-safety analysis attributes. They compile to nothing elsewhere,
// so g++ builds are unaffected; CI builds once with clang -Wthread-safety.

#if defined(__clang__)
#define WARREN_TSA(x) __attribute__((x))
#else
#define WARREN_TSA(x)
#endif

#define CAPABILITY(x) WARREN_TSA(capability(x))
#define SCOPED_CAPABILITY WARREN_TSA(scoped_lockable)
#define GUARDED_BY(x) WARREN_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) WARREN_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) WARREN_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) WARREN_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) WARREN_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) WARREN_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) WARREN_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) WARREN_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) WARREN_TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) WARREN_TSA(assert_capability(x))
#define RETURN_CAPABILITY(x) WARREN_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS WARREN_TSA(no_thread_safety_analysis)
