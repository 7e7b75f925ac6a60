#pragma once
// PYFROZEN_API marks the symbols the shared core exports; everything else is hidden.
#if defined(PYFROZEN_BUILDING_CORE)
#define PYFROZEN_API __attribute__((visibility("default")))
#else
#define PYFROZEN_API
#endif
