#include "kmod-bridge/daemon/http_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

#include "kmod-bridge/untrusted_text.hpp"

namespace mesh::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdle = std::chrono::seconds(30);

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket socket, const HttpHandler& handler)
        : stream_(std::move(socket)), handler_(handler) {}

    void start() { read(); }

  private:
    void read() {
        request_.emplace();
        request_->header_limit(16 * 1024);
        request_->body_limit(0);
        stream_.expires_after(kIdle);
        http::async_read(
            stream_, buffer_, *request_,
            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec) return;  // closed, timed out or malformed: drop the connection
        const auto& req = request_->get();
        response_ = {};
        response_.version(req.version());
        response_.set(http::field::server, "mesh-coordinator");
        response_.set(http::field::cache_control, "no-store");
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
            response_.result(http::status::method_not_allowed);
            response_.set(http::field::allow, "GET, HEAD");
            response_.body() = "read-only: GET only\n";
        } else {
            HttpRequest in{std::string(req.target()), std::string(req[http::field::authorization])};
            HttpReply out;
            try {
                out = handler_(in);
            } catch (const std::exception& e) {
                spdlog::warn("event=http_error target={} error={}", kb::log_quote(in.target),
                             kb::log_quote(e.what()));
                out = {503, "text/plain; charset=utf-8", "unavailable\n", false};
            }
            response_.result(out.status);
            response_.set(http::field::content_type, out.content_type);
            if (out.challenge) {
                response_.set(http::field::www_authenticate, "Basic realm=\"mesh-coordinator\"");
            }
            if (req.method() != http::verb::head) response_.body() = std::move(out.body);
        }
        response_.keep_alive(req.keep_alive());
        response_.prepare_payload();
        http::async_write(
            stream_, response_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
                if (wec || !self->response_.keep_alive()) {
                    beast::error_code ignored;
                    self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                    return;
                }
                self->read();
            });
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::empty_body>> request_;
    http::response<http::string_body> response_;
    const HttpHandler& handler_;
};

tcp::endpoint parse_endpoint(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw std::invalid_argument("--metrics-listen wants HOST:PORT, got " + host_port);
    }
    std::string host = host_port.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    auto address = host == "localhost" ? asio::ip::make_address("127.0.0.1")
                                       : asio::ip::make_address(host, ec);
    unsigned long port = 0;
    try {
        port = std::stoul(host_port.substr(colon + 1));
    } catch (const std::exception&) {
        port = 70000;
    }
    if (ec || port > 65535) {
        throw std::invalid_argument("--metrics-listen wants a numeric HOST:PORT, got " + host_port);
    }
    return {address, static_cast<unsigned short>(port)};
}

}  // namespace

struct HttpListener::Impl {
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    HttpHandler handler;

    void accept() {
        acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket s) {
            if (ec) {
                if (ec == asio::error::operation_aborted) return;
            } else {
                std::make_shared<Session>(std::move(s), handler)->start();
            }
            accept();
        });
    }
};

HttpListener::HttpListener(const std::string& host_port, HttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
    impl_->handler = std::move(handler);
    auto endpoint = parse_endpoint(host_port);
    beast::error_code ec;
    impl_->acceptor.open(endpoint.protocol(), ec);
    if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) impl_->acceptor.bind(endpoint, ec);
    if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        throw std::runtime_error("cannot listen on --metrics-listen " + host_port + ": " +
                                 ec.message());
    }
    impl_->accept();
    thread_ = std::thread([this] { impl_->io.run(); });
}

HttpListener::~HttpListener() {
    impl_->io.stop();
    if (thread_.joinable()) thread_.join();
}

unsigned short HttpListener::port() const {
    return impl_->acceptor.local_endpoint().port();
}

}  // namespace mesh::web
