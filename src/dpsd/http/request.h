#include "net/http_request.h" /* moved to lib/net; goes once api/ includes that */
