// EventToken.h — Debian's mingw-w64 lacks this header, which webview_go's WebView2.h includes.
#pragma once
#include <stdint.h>
typedef struct EventRegistrationToken { int64_t value; } EventRegistrationToken;
