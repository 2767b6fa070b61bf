// Declarations only (see include/); SwiftPM needs one source file per C target.
#include "CLibFuzzerDriver.h"
