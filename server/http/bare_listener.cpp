// flotilla-bare-listener: a cpprest http_listener that answers every
// request with a fixed JSON body. The baseline of `bench/run poll`: what
// the transport costs with no work at all. Not installed; built on demand.
//   flotilla-bare-listener URL THREADS
#include <csignal>
#include <cpprest/http_listener.h>
#include <iostream>
#include <pplx/threadpool.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: flotilla-bare-listener URL THREADS\n";
    return 2;
  }
  crossplat::threadpool::initialize_with_threads(static_cast<std::size_t>(std::stoi(argv[2])));
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  web::http::experimental::listener::http_listener listener{web::uri(argv[1])};
  const std::string body = R"({"poll_interval_s":60,"root_version":1,"inventory_required":false,"update":null})";
  listener.support([&body](web::http::http_request request) {
    web::http::http_response response(web::http::status_codes::OK);
    response.set_body(body, "application/json");
    request.reply(response).then([](pplx::task<void> sent) {
      try {
        sent.get();
      } catch (...) {
      }
    });
  });
  listener.open().wait();
  std::cout << argv[1] << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  listener.close().wait();
  return 0;
}
