#pragma once
// A small read-only HTTP/1.1 server on Boost.Beast, one Asio thread: GET requests go to a
// handler, everything else is refused. Both daemons serve --metrics-listen with it (the
// coordinator also its fleet page).
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace mesh::web {

struct HttpRequest {
    std::string target;         // path and query, as sent
    std::string authorization;  // the Authorization header, "" = none
};

struct HttpReply {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    bool challenge = false;  // 401 with WWW-Authenticate: Basic
};

using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

class HttpListener {
  public:
    // Listens on HOST:PORT (throws with the address on failure); `handler` runs on the
    // listener's thread.
    HttpListener(const std::string& host_port, HttpHandler handler);
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    unsigned short port() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::thread thread_;
};

}  // namespace mesh::web
