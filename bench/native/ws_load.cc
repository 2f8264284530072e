// ws_load: the WebSocket load generator of the serving benchmark, in C++ -- bench/ws-load.ts's
// contract without Node's cost, so that at high concurrency the server and not the load
// generator is the limit (the Node one spends 0.6-0.8 of its core where wrk spends 0.3).
//
//   ortex_ws_load '{"url":"ws://127.0.0.1:PORT/v2/stream","connections":64,"durationS":5,
//                   "timeoutS":2,"requestFile":"<file of bench/serving-payloads.ts>"}'
//
// Opens `connections` WebSockets (its own HTTP Upgrade, Sec-WebSocket-Accept checked with
// SHA-1), then runs a closed loop like `wrk -c<connections>`: each connection keeps one request
// in flight and sends its next when the answer with that request id arrives. Requests are the
// request file's bodies in its order (one counter over all connections, as ws-load.ts), each
// framed as src/server/ws-frame.ts encodeFrame() does. A request unanswered after timeoutS
// counts as a timeout and its connection moves on; a late answer is recognised by its id and
// dropped. An answer that is not a response frame (kind 3 is the server's error frame) counts
// as non-2xx. Prints one line, `SERVING_WRK {json}`, in the shape of ws-load.ts and
// serving-wrk.lua, and on stderr one line of counts for checking (answers dropped as late or
// with an unexpected id). Percentiles are nearest-rank, as bench/stats.ts.
//
// One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY. Client frames are
// masked (RFC 6455 5.3) with one fixed key, so every message is masked once up front and a send
// is a copy plus the four id bytes: this is a benchmark client, not one that needs the masking's
// protection against cache poisoning. Any failure of the set-up prints to stderr and exits 1.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace {

// ws-frame.ts
constexpr uint8_t kFrameMagic = 0x9e;
constexpr uint8_t kFrameVersion = 1;
constexpr uint8_t kKindRequest = 1;
constexpr uint8_t kKindResponse = 2;
constexpr size_t kFrameFixedBytes = 16;

// RFC 6455
constexpr uint8_t kOpContinuation = 0x0;
constexpr uint8_t kOpText = 0x1;
constexpr uint8_t kOpBinary = 0x2;
constexpr uint8_t kOpClose = 0x8;
constexpr uint8_t kOpPing = 0x9;
constexpr uint8_t kOpPong = 0xa;
constexpr uint8_t kMaskKey[4] = {0x5a, 0xc3, 0x19, 0xe6};
constexpr const char* kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// How long all connections may take to open before the timed run; unopened ones count as connect errors.
constexpr int64_t kConnectDeadlineNs = 10'000'000'000;
// How often in-flight requests are checked against timeoutS (ws-load.ts's watchdog interval).
constexpr int64_t kWatchdogNs = 100'000'000;
constexpr size_t kMaxHandshakeBytes = 16 * 1024;

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "ortex_ws_load: %s\n", message.c_str());
  std::exit(1);
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// ---- The config: one flat JSON object of strings and numbers. ----

struct Config {
  std::string url;
  long connections = 0;
  double duration_s = 0;
  double timeout_s = 0;
  std::string request_file;
};

class FlatJsonReader {
 public:
  explicit FlatJsonReader(const std::string& text) : text_(text) {}

  bool AtEnd() {
    SkipSpace();
    return at_ == text_.size();
  }
  // Consumes `c` if it is next; `required` fails otherwise.
  bool Take(char c, bool required) {
    SkipSpace();
    if (at_ < text_.size() && text_[at_] == c) {
      at_++;
      return true;
    }
    if (required) Fail(std::string("expected '") + c + "' at offset " + std::to_string(at_) + " of the config JSON");
    return false;
  }
  bool PeekString() {
    SkipSpace();
    return at_ < text_.size() && text_[at_] == '"';
  }
  std::string String() {
    Take('"', true);
    std::string out;
    while (at_ < text_.size() && text_[at_] != '"') {
      char c = text_[at_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) break;
      c = text_[at_++];
      switch (c) {
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': AppendUtf8(out, CodePoint()); break;
        default: out += c;  // \" \\ \/
      }
    }
    Take('"', true);
    return out;
  }
  double Number() {
    SkipSpace();
    const char* begin = text_.c_str() + at_;
    char* end = nullptr;
    const double v = std::strtod(begin, &end);
    if (end == begin) Fail("expected a number at offset " + std::to_string(at_) + " of the config JSON");
    at_ += static_cast<size_t>(end - begin);
    return v;
  }

 private:
  void SkipSpace() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) at_++;
  }
  unsigned Hex4() {
    if (at_ + 4 > text_.size()) Fail("expected four hex digits after \\u in the config JSON");
    const std::string digits = text_.substr(at_, 4);
    char* end = nullptr;
    const unsigned long v = std::strtoul(digits.c_str(), &end, 16);
    if (end != digits.c_str() + 4) Fail("expected four hex digits after \\u in the config JSON but received '" + digits + "'");
    at_ += 4;
    return static_cast<unsigned>(v);
  }
  // After "\u": a code point, joining a surrogate pair.
  unsigned CodePoint() {
    const unsigned high = Hex4();
    if (high < 0xd800 || high > 0xdbff) return high;
    if (text_.compare(at_, 2, "\\u") != 0) return high;
    at_ += 2;
    const unsigned low = Hex4();
    return 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
  }
  static void AppendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  const std::string& text_;
  size_t at_ = 0;
};

Config ParseConfig(const std::string& text) {
  Config config;
  FlatJsonReader json(text);
  unsigned seen = 0;
  json.Take('{', true);
  if (!json.Take('}', false)) {
    do {
      const std::string key = json.String();
      json.Take(':', true);
      auto number = [&](const char* what) {
        if (json.PeekString()) Fail(std::string("expected a number for ") + what + " in the config JSON but received a string");
        return json.Number();
      };
      auto string = [&](const char* what) {
        if (!json.PeekString()) Fail(std::string("expected a string for ") + what + " in the config JSON");
        return json.String();
      };
      if (key == "url") {
        config.url = string("url"), seen |= 1;
      } else if (key == "connections") {
        const double v = number("connections");
        if (v < 1 || v > 60000 || v != std::floor(v)) Fail("expected an integer from 1 to 60000 for connections but received " + std::to_string(v));
        config.connections = static_cast<long>(v), seen |= 2;
      } else if (key == "durationS") {
        config.duration_s = number("durationS"), seen |= 4;
      } else if (key == "timeoutS") {
        config.timeout_s = number("timeoutS"), seen |= 8;
      } else if (key == "requestFile") {
        config.request_file = string("requestFile"), seen |= 16;
      } else {
        Fail("expected only the keys url, connections, durationS, timeoutS, requestFile in the config JSON but received '" + key + "'");
      }
    } while (json.Take(',', false));
    json.Take('}', true);
  }
  if (!json.AtEnd()) Fail("expected the end of the config JSON after its closing brace");
  if (seen != 31) Fail("expected the config JSON to give url, connections, durationS, timeoutS and requestFile");
  if (!(config.duration_s > 0)) Fail("expected durationS above 0 but received " + std::to_string(config.duration_s));
  if (!(config.timeout_s > 0)) Fail("expected timeoutS above 0 but received " + std::to_string(config.timeout_s));
  return config;
}

// ---- The URL: ws://host[:port]/path ----

struct Endpoint {
  std::string host;  // without IPv6 brackets, for getaddrinfo
  std::string port;
  std::string authority;  // the Host header
  std::string path;
};

Endpoint ParseUrl(const std::string& url) {
  const std::string scheme = "ws://";
  if (url.compare(0, scheme.size(), scheme) != 0) Fail("expected a ws:// URL but received '" + url + "'");
  Endpoint e;
  const size_t slash = url.find('/', scheme.size());
  e.authority = url.substr(scheme.size(), slash == std::string::npos ? std::string::npos : slash - scheme.size());
  e.path = slash == std::string::npos ? "/" : url.substr(slash);
  const size_t bracket = e.authority.find(']');
  const size_t colon = e.authority.rfind(':');
  const bool has_port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  e.host = e.authority.substr(0, has_port ? colon : std::string::npos);
  e.port = has_port ? e.authority.substr(colon + 1) : "80";
  if (e.host.size() >= 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  if (e.host.empty() || e.port.empty()) Fail("expected ws://host[:port]/path but received '" + url + "'");
  return e;
}

// ---- The request file of bench/serving-payloads.ts writeRequestFile() ----

struct RequestFile {
  std::string model;
  struct Body {
    std::vector<uint8_t> bytes;
    size_t header_length;  // the JSON part: the whole body when the file says 0
  };
  std::vector<Body> bodies;
  std::vector<uint32_t> order;
};

std::string PercentDecode(const std::string& s, const std::string& file) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) || !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      Fail(file + ": expected %XX escapes in the model name of its path but received '" + s + "'");
    }
    out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

RequestFile ReadRequestFile(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) Fail(file + ": cannot be read (" + std::strerror(errno) + ")");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  auto line = [&]() {
    const size_t nl = bytes.find('\n', at);
    if (nl == std::string::npos) Fail(file + ": truncated at byte " + std::to_string(at));
    std::string text = bytes.substr(at, nl - at);
    at = nl + 1;
    return text;
  };
  auto numbers = [&](const std::string& text, const char* what) {
    std::vector<unsigned long long> out;
    const char* p = text.c_str();
    while (*p != '\0') {
      char* end = nullptr;
      out.push_back(std::strtoull(p, &end, 10));
      if (end == p || (*end != ' ' && *end != '\0')) Fail(file + ": expected numbers in its " + what + " line but received '" + text.substr(0, 80) + "'");
      p = *end == ' ' ? end + 1 : end;
    }
    return out;
  };

  RequestFile r;
  const std::string path = line();
  const std::string prefix = "path /v2/models/", suffix = "/infer";
  if (path.size() <= prefix.size() + suffix.size() || path.compare(0, prefix.size(), prefix) != 0 ||
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0 ||
      path.find_first_of("/ ", prefix.size()) != path.size() - suffix.size()) {
    Fail(file + ": expected a path /v2/models/<model>/infer but received '" + path + "'");
  }
  r.model = PercentDecode(path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()), file);
  if (r.model.size() > 0xffff) Fail(file + ": expected a model name of at most 65535 bytes");

  const std::string count_line = line();
  if (count_line.compare(0, 7, "bodies ") != 0) Fail(file + ": expected 'bodies <count>' but received '" + count_line + "'");
  const auto count = numbers(count_line.substr(7), "bodies");
  if (count.size() != 1 || count[0] == 0) Fail(file + ": expected one positive count in its bodies line");
  for (unsigned long long k = 0; k < count[0]; k++) {
    const auto sizes = numbers(line(), "body size");
    if (sizes.size() != 2 || sizes[1] > bytes.size() - at || sizes[0] > sizes[1]) Fail(file + ": body " + std::to_string(k) + " runs past the end of the file or has a header longer than itself");
    RequestFile::Body body;
    body.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + sizes[1]));
    body.header_length = sizes[0] == 0 ? sizes[1] : sizes[0];
    if (body.header_length > 0xffffffffull - 8) Fail(file + ": body " + std::to_string(k) + " has a JSON header over 2^32 bytes");
    r.bodies.push_back(std::move(body));
    at += sizes[1];
  }

  const std::string order_line = line();
  if (order_line.compare(0, 6, "order ") != 0) Fail(file + ": expected 'order <n> <i1> ...' but received '" + order_line.substr(0, 80) + "'");
  const auto order = numbers(order_line.substr(6), "order");
  if (order.size() < 2 || order[0] != order.size() - 1) Fail(file + ": expected an order line with its count and that many indices");
  for (size_t k = 1; k < order.size(); k++) {
    if (order[k] >= r.bodies.size()) Fail(file + ": order names body " + std::to_string(order[k]) + " of " + std::to_string(r.bodies.size()));
    r.order.push_back(static_cast<uint32_t>(order[k]));
  }
  // Cold values and Zipf ids need the JSON template rewritten per request; like ws-load.ts this
  // sends only the pool, so a file that asks for more is refused rather than half obeyed.
  if (at < bytes.size()) Fail(file + ": has a section after its order line (cold or zipf); the WebSocket load generator sends only the pool of bodies in its order");
  return r;
}

// ---- Frames ----

void PutU16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// A request frame as ws-frame.ts encodeFrame() builds it, with id 0 and version '': the JSON
// header padded with spaces so that the binary sections start at a multiple of 8.
std::vector<uint8_t> RequestFrame(const std::string& model, const RequestFile::Body& body) {
  const size_t json = body.header_length;
  const size_t binary = body.bytes.size() - json;
  const size_t start = kFrameFixedBytes + model.size();
  const size_t pad = binary == 0 ? 0 : (8 - (start + json) % 8) % 8;
  std::vector<uint8_t> f(start + json + pad + binary);
  f[0] = kFrameMagic;
  f[1] = kFrameVersion;
  f[2] = kKindRequest;
  f[3] = 0;
  PutU32(&f[4], 0);
  PutU16(&f[8], static_cast<uint32_t>(model.size()));
  std::memcpy(&f[10], model.data(), model.size());
  PutU16(&f[10 + model.size()], 0);
  PutU32(&f[start - 4], static_cast<uint32_t>(json + pad));
  std::memcpy(&f[start], body.bytes.data(), json);
  std::memset(&f[start + json], ' ', pad);
  if (binary > 0) std::memcpy(&f[start + json + pad], body.bytes.data() + json, binary);
  return f;
}

// One client WebSocket frame (FIN set) around `payload`, masked with kMaskKey.
std::vector<uint8_t> ClientFrame(uint8_t opcode, const uint8_t* payload, size_t length) {
  std::vector<uint8_t> m;
  m.reserve(length + 14);
  m.push_back(static_cast<uint8_t>(0x80 | opcode));
  if (length < 126) {
    m.push_back(static_cast<uint8_t>(0x80 | length));
  } else if (length <= 0xffff) {
    m.push_back(0x80 | 126);
    m.push_back(static_cast<uint8_t>(length >> 8));
    m.push_back(static_cast<uint8_t>(length));
  } else {
    m.push_back(0x80 | 127);
    for (int i = 7; i >= 0; i--) m.push_back(static_cast<uint8_t>(static_cast<uint64_t>(length) >> (8 * i)));
  }
  m.insert(m.end(), kMaskKey, kMaskKey + 4);
  for (size_t i = 0; i < length; i++) m.push_back(payload[i] ^ kMaskKey[i % 4]);
  return m;
}

// A request ready to send: the masked WebSocket message, and where the masked request id sits in it.
struct Message {
  std::vector<uint8_t> bytes;
  size_t id_at;
};

// ---- The handshake's Sec-WebSocket-Accept: base64(SHA-1(key + GUID)), FIPS 180-4. ----

uint32_t Rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

std::vector<uint8_t> Sha1(const std::string& text) {
  std::vector<uint8_t> data(text.begin(), text.end());
  const uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  data.push_back(0x80);
  while (data.size() % 64 != 56) data.push_back(0);
  for (int i = 7; i >= 0; i--) data.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
  for (size_t chunk = 0; chunk < data.size(); chunk += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
      const uint8_t* p = &data[chunk + 4 * static_cast<size_t>(i)];
      w[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
    }
    for (int i = 16; i < 80; i++) w[i] = Rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) f = (b & c) | (~b & d), k = 0x5a827999;
      else if (i < 40) f = b ^ c ^ d, k = 0x6ed9eba1;
      else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
      else f = b ^ c ^ d, k = 0xca62c1d6;
      const uint32_t t = Rotl(a, 5) + f + e + k + w[i];
      e = d, d = c, c = Rotl(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  std::vector<uint8_t> digest;
  for (uint32_t v : h)
    for (int i = 3; i >= 0; i--) digest.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return digest;
}

std::string Base64(const std::vector<uint8_t>& in) {
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = (uint32_t{in[i]} << 16) | (i + 1 < in.size() ? uint32_t{in[i + 1]} << 8 : 0) | (i + 2 < in.size() ? in[i + 2] : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// ---- Connections and the loop ----

enum class State { kConnecting, kHandshake, kOpen, kClosed };

struct Conn {
  int fd_ = -1;
  State state_ = State::kConnecting;
  std::string handshake_in_;
  std::string expected_accept_;
  std::vector<uint8_t> out_;  // bytes not yet written, from out_at_
  size_t out_at_ = 0;
  bool polling_out_ = false;  // EPOLLOUT registered
  uint32_t id_ = 0;           // the last request id sent
  int64_t sent_ns_ = 0;       // when it was sent; 0 when nothing is in flight

  // The incoming frame being read: its header bytes, then its payload.
  uint8_t header_[14];
  size_t header_have_ = 0;
  bool in_payload_ = false;
  uint8_t opcode_ = 0;
  bool fin_ = false;
  uint64_t payload_left_ = 0;
  uint8_t control_[125];  // a control frame's payload (RFC 6455 caps it at 125 bytes)
  size_t control_have_ = 0;
  // The data message being assembled across fragments: only its first 8 bytes (kind, id) matter.
  uint8_t message_head_[8];
  uint64_t message_bytes_ = 0;
};

struct Errors {
  uint64_t connect = 0, read = 0, write = 0, status = 0, timeout = 0;
};

class Load {
 public:
  Load(const Config& config, const RequestFile& requests) : config_(config), order_(requests.order), buffer_(64 * 1024) {
    for (const auto& body : requests.bodies) {
      const std::vector<uint8_t> frame = RequestFrame(requests.model, body);
      Message m;
      m.bytes = ClientFrame(kOpBinary, frame.data(), frame.size());
      m.id_at = m.bytes.size() - frame.size() + 4;
      messages_.push_back(std::move(m));
    }
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) Fail(std::string("epoll_create1: ") + std::strerror(errno));
    timeout_ns_ = static_cast<int64_t>(config.timeout_s * 1e9);
    samples_us_.reserve(1 << 20);
  }

  // Opens every connection; those not open within kConnectDeadlineNs count as connect errors.
  void Connect(const Endpoint& endpoint) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(endpoint.host.c_str(), endpoint.port.c_str(), &hints, &found);
    if (rc != 0) Fail("cannot resolve " + endpoint.host + ": " + gai_strerror(rc));
    std::random_device entropy;
    conns_.resize(static_cast<size_t>(config_.connections));
    for (size_t i = 0; i < conns_.size(); i++) {
      Conn& c = conns_[i];
      connecting_++;  // from here on Drop() counts it off
      c.fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd_ < 0) {
        Drop(c, &errors_.connect);
        continue;
      }
      const int one = 1;
      setsockopt(c.fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::vector<uint8_t> nonce(16);
      for (auto& b : nonce) b = static_cast<uint8_t>(entropy());
      const std::string key = Base64(nonce);
      c.expected_accept_ = Base64(Sha1(key + kAcceptGuid));
      const std::string request = "GET " + endpoint.path + " HTTP/1.1\r\nHost: " + endpoint.authority +
                                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                                  "\r\nSec-WebSocket-Version: 13\r\n\r\n";
      c.out_.assign(request.begin(), request.end());
      if (connect(c.fd_, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
        Drop(c, &errors_.connect);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
      ev.data.u64 = i;
      c.polling_out_ = true;
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd_, &ev) != 0) Fail(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    freeaddrinfo(found);
    const int64_t deadline = NowNs() + kConnectDeadlineNs;
    for (int64_t now = NowNs(); connecting_ > 0 && now < deadline; now = NowNs()) Poll(deadline - now);
    for (Conn& c : conns_)
      if (c.state_ == State::kConnecting || c.state_ == State::kHandshake) Drop(c, &errors_.connect);
  }

  // The closed loop over the open connections for durationS; then the summary line.
  void Run() {
    const double cpu_start = CpuSeconds();
    const int64_t start = NowNs();
    running_ = true;
    for (Conn& c : conns_) SendNext(c);
    const int64_t end = start + static_cast<int64_t>(config_.duration_s * 1e9);
    int64_t next_watch = start + kWatchdogNs;
    int64_t now = start;
    while (now < end) {
      Poll(std::min(end, next_watch) - now);
      now = NowNs();
      if (now >= next_watch) {
        Watchdog(now);
        next_watch += kWatchdogNs;
      }
    }
    running_ = false;
    const int64_t duration_ns = NowNs() - start;
    const double cpu_s = CpuSeconds() - cpu_start;
    for (Conn& c : conns_)
      if (c.fd_ >= 0) close(c.fd_);
    Print(duration_ns, cpu_s);
  }

 private:
  void Poll(int64_t wait_ns) {
    epoll_event events[256];
    const int wait_ms = static_cast<int>(std::max<int64_t>(0, (wait_ns + 999999) / 1000000));
    const int n = epoll_wait(epoll_, events, 256, wait_ms);
    if (n < 0 && errno != EINTR) Fail(std::string("epoll_wait: ") + std::strerror(errno));
    for (int k = 0; k < n; k++) {
      Conn& c = conns_[events[k].data.u64];
      const uint32_t ev = events[k].events;
      if (c.state_ == State::kClosed) continue;
      if (c.state_ == State::kConnecting) {
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(c.fd_, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0 || (ev & (EPOLLERR | EPOLLHUP)) != 0) {
          Drop(c, &errors_.connect);
          continue;
        }
        if ((ev & EPOLLOUT) == 0) continue;
        c.state_ = State::kHandshake;
      }
      if ((ev & EPOLLOUT) != 0) Flush(c);
      if (c.state_ != State::kClosed && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) Receive(c);
    }
  }

  // A socket error or close: counted against `counter` (none after the run), the socket closed.
  void Drop(Conn& c, uint64_t* counter) {
    if (c.state_ == State::kClosed) return;
    if (c.state_ == State::kConnecting || c.state_ == State::kHandshake) connecting_--;
    if (counter != nullptr) (*counter)++;
    if (c.fd_ >= 0) close(c.fd_);  // also leaves the epoll set
    c.fd_ = -1;
    c.state_ = State::kClosed;
    c.sent_ns_ = 0;
  }

  // Errors on an open connection count while the run lasts (as ws-load.ts's 'close' handler), at set-up as connect errors.
  uint64_t* During(uint64_t* counter) { return running_ ? counter : &errors_.connect; }

  void Queue(Conn& c, const uint8_t* data, size_t length) {
    if (c.out_at_ == c.out_.size()) c.out_.clear(), c.out_at_ = 0;
    c.out_.insert(c.out_.end(), data, data + length);
  }

  void Flush(Conn& c) {
    while (c.out_at_ < c.out_.size()) {
      const ssize_t n = send(c.fd_, c.out_.data() + c.out_at_, c.out_.size() - c.out_at_, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_at_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.polling_out_) PollOut(c, true);
        return;
      }
      Drop(c, c.state_ == State::kOpen ? During(&errors_.write) : &errors_.connect);
      return;
    }
    c.out_.clear();
    c.out_at_ = 0;
    // Level-triggered: EPOLLOUT stays registered only while there is something left to write.
    if (c.polling_out_) PollOut(c, false);
  }

  void PollOut(Conn& c, bool on) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
    ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
    if (epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd_, &ev) != 0) Fail(std::string("epoll_ctl: ") + std::strerror(errno));
    c.polling_out_ = on;
  }

  void Receive(Conn& c) {
    // Level-triggered, so one read per wake-up is enough: what it leaves wakes the next epoll_wait.
    const ssize_t n = recv(c.fd_, buffer_.data(), buffer_.size(), 0);
    if (n > 0) {
      if (c.state_ == State::kHandshake) Handshake(c, buffer_.data(), static_cast<size_t>(n));
      else Feed(c, buffer_.data(), static_cast<size_t>(n));
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    Drop(c, c.state_ == State::kOpen ? During(&errors_.read) : &errors_.connect);
  }

  // The server's 101 answer: status, Sec-WebSocket-Accept; bytes after it are the first frames.
  void Handshake(Conn& c, const uint8_t* data, size_t n) {
    c.handshake_in_.append(reinterpret_cast<const char*>(data), n);
    const size_t end = c.handshake_in_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.handshake_in_.size() > kMaxHandshakeBytes) Drop(c, &errors_.connect);
      return;
    }
    std::string head = c.handshake_in_.substr(0, end + 2);
    const std::string rest = c.handshake_in_.substr(end + 4);
    const bool switched = head.compare(0, 13, "HTTP/1.1 101 ") == 0 || head.compare(0, 14, "HTTP/1.1 101\r\n") == 0;
    for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const size_t at = head.find("\r\nsec-websocket-accept:");
    std::string accept;
    if (at != std::string::npos) {
      size_t from = at + 23;
      const size_t to = head.find("\r\n", from);
      while (from < to && (c.handshake_in_[from] == ' ' || c.handshake_in_[from] == '\t')) from++;
      size_t last = to;
      while (last > from && (c.handshake_in_[last - 1] == ' ' || c.handshake_in_[last - 1] == '\t')) last--;
      accept = c.handshake_in_.substr(from, last - from);  // from the original: base64 is case-sensitive
    }
    if (!switched || accept != c.expected_accept_) {
      if (!handshake_reported_) {
        handshake_reported_ = true;
        std::fprintf(stderr, "ortex_ws_load: the server refused the WebSocket upgrade or answered a wrong Sec-WebSocket-Accept: %s\n",
                     c.handshake_in_.substr(0, std::min<size_t>(end, 200)).c_str());
      }
      Drop(c, &errors_.connect);
      return;
    }
    c.handshake_in_.clear();
    c.handshake_in_.shrink_to_fit();
    c.state_ = State::kOpen;
    connecting_--;
    if (!rest.empty()) Feed(c, reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  }

  // Reads server frames from `data`, which may end anywhere inside a frame or its header.
  void Feed(Conn& c, const uint8_t* data, size_t n) {
    while (c.state_ == State::kOpen) {
      if (!c.in_payload_) {
        if (n == 0) return;
        while (n > 0 && c.header_have_ < HeaderBytes(c)) c.header_[c.header_have_++] = *data++, n--;
        if (c.header_have_ < HeaderBytes(c)) return;
        if (!StartFrame(c)) return;
      }
      const size_t take = static_cast<size_t>(std::min<uint64_t>(c.payload_left_, n));
      if ((c.opcode_ & 0x8) != 0) {
        std::memcpy(c.control_ + c.control_have_, data, take);
        c.control_have_ += take;
      } else {
        for (size_t i = 0; i < take && c.message_bytes_ + i < 8; i++) c.message_head_[c.message_bytes_ + i] = data[i];
        c.message_bytes_ += take;
      }
      data += take, n -= take;
      c.payload_left_ -= take;
      if (c.payload_left_ > 0) return;
      c.in_payload_ = false;
      if ((c.opcode_ & 0x8) != 0) Control(c);
      else if (c.fin_) Answer(c);
    }
  }

  // The length of the frame header being read, as far as its first two bytes tell.
  static size_t HeaderBytes(const Conn& c) {
    if (c.header_have_ < 2) return 2;
    const uint8_t len7 = c.header_[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((c.header_[1] & 0x80) != 0 ? 4 : 0);
  }

  // Decodes a complete frame header; false (and the connection dropped) on a protocol error.
  bool StartFrame(Conn& c) {
    const uint8_t* h = c.header_;
    c.header_have_ = 0;
    c.fin_ = (h[0] & 0x80) != 0;
    const uint8_t opcode = h[0] & 0x0f;
    const uint8_t len7 = h[1] & 0x7f;
    uint64_t length = len7;
    if (len7 == 126) length = (uint64_t{h[2]} << 8) | h[3];
    if (len7 == 127) {
      length = 0;
      for (int i = 0; i < 8; i++) length = (length << 8) | h[2 + i];
    }
    // A server never masks (RFC 6455 5.1); control frames are short and whole (5.5); data needs
    // no extension bits (none negotiated).
    const bool control = (opcode & 0x8) != 0;
    const bool bad = (h[1] & 0x80) != 0 || (h[0] & 0x70) != 0 ||
                     (control ? (length > 125 || !c.fin_ || (opcode != kOpClose && opcode != kOpPing && opcode != kOpPong))
                              : (opcode != kOpContinuation && opcode != kOpText && opcode != kOpBinary));
    if (bad) {
      Drop(c, During(&errors_.read));
      return false;
    }
    if (control) {
      c.control_have_ = 0;
    } else if (opcode != kOpContinuation) {
      c.message_bytes_ = 0;
    }
    c.opcode_ = opcode;
    c.payload_left_ = length;
    c.in_payload_ = true;
    return true;
  }

  void Control(Conn& c) {
    if (c.opcode_ == kOpPing) {
      const std::vector<uint8_t> pong = ClientFrame(kOpPong, c.control_, c.control_have_);
      Queue(c, pong.data(), pong.size());
      Flush(c);
    } else if (c.opcode_ == kOpClose) {
      // Echo the status code (RFC 6455 5.5.1), then close: the server ended this connection.
      const std::vector<uint8_t> reply = ClientFrame(kOpClose, c.control_, std::min<size_t>(c.control_have_, 2));
      Queue(c, reply.data(), reply.size());
      Flush(c);
      Drop(c, During(&errors_.read));
    }
  }

  // A whole data message: the answer to this connection's request if its id says so.
  void Answer(Conn& c) {
    if (c.message_bytes_ < 8) return;
    const uint8_t* h = c.message_head_;
    const uint32_t id = uint32_t{h[4]} | (uint32_t{h[5]} << 8) | (uint32_t{h[6]} << 16) | (uint32_t{h[7]} << 24);
    if (c.sent_ns_ == 0 || id != c.id_) {
      // Ids count up per connection: a smaller one answers a request that timed out.
      (id != 0 && id < c.id_ ? late_ : unexpected_)++;
      return;
    }
    samples_us_.push_back(static_cast<double>(NowNs() - c.sent_ns_) / 1000.0);
    c.sent_ns_ = 0;
    received_++;
    bytes_ += c.message_bytes_;
    if (h[0] != kFrameMagic || h[1] != kFrameVersion || h[2] != kKindResponse) errors_.status++;
    SendNext(c);
  }

  void SendNext(Conn& c) {
    if (!running_ || c.state_ != State::kOpen) return;
    const Message& m = messages_[order_[next_]];
    next_ = next_ + 1 == order_.size() ? 0 : next_ + 1;
    c.id_ = c.id_ == 0xffffffffu ? 1 : c.id_ + 1;
    Queue(c, m.bytes.data(), m.bytes.size());
    uint8_t* id = c.out_.data() + c.out_.size() - m.bytes.size() + m.id_at;
    // The id is at payload offset 4, a multiple of the mask's length: byte i takes mask byte i.
    for (int i = 0; i < 4; i++) id[i] = static_cast<uint8_t>(c.id_ >> (8 * i)) ^ kMaskKey[i];
    c.sent_ns_ = NowNs();
    Flush(c);
  }

  void Watchdog(int64_t now) {
    for (Conn& c : conns_) {
      if (c.state_ == State::kOpen && c.sent_ns_ != 0 && now - c.sent_ns_ > timeout_ns_) {
        errors_.timeout++;
        c.sent_ns_ = 0;
        SendNext(c);
      }
    }
  }

  void Print(int64_t duration_ns, double cpu_s) {
    std::vector<double>& s = samples_us_;
    std::sort(s.begin(), s.end());
    // bench/stats.ts percentile() at q / 100, then Math.round, as ws-load.ts.
    auto p = [&](double q) {
      if (s.empty()) return 0.0;
      const double rank = std::max(1.0, std::ceil(q / 100 * static_cast<double>(s.size())));
      return std::round(s[static_cast<size_t>(rank) - 1]);
    };
    double sum = 0;
    for (double v : s) sum += v;
    std::printf(
        "SERVING_WRK {\"requests\":%llu,\"bytes\":%llu,\"durationUs\":%lld,"
        "\"errors\":{\"connect\":%llu,\"read\":%llu,\"write\":%llu,\"status\":%llu,\"timeout\":%llu},"
        "\"latencyUs\":{\"p50\":%.0f,\"p90\":%.0f,\"p95\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"mean\":%.3f,\"min\":%.0f,\"max\":%.0f},"
        "\"cpuS\":%.6f,\"coldRequests\":0}\n",
        static_cast<unsigned long long>(received_), static_cast<unsigned long long>(bytes_),
        static_cast<long long>(std::llround(static_cast<double>(duration_ns) / 1000.0)),
        static_cast<unsigned long long>(errors_.connect), static_cast<unsigned long long>(errors_.read),
        static_cast<unsigned long long>(errors_.write), static_cast<unsigned long long>(errors_.status),
        static_cast<unsigned long long>(errors_.timeout), p(50), p(90), p(95), p(99), p(99.9),
        s.empty() ? 0.0 : sum / static_cast<double>(s.size()), s.empty() ? 0.0 : std::round(s.front()),
        s.empty() ? 0.0 : std::round(s.back()), cpu_s);
    std::fflush(stdout);
    std::fprintf(stderr, "ortex_ws_load: %llu answers matched, %llu dropped as late, %llu with an unexpected id\n",
                 static_cast<unsigned long long>(received_), static_cast<unsigned long long>(late_),
                 static_cast<unsigned long long>(unexpected_));
  }

  const Config config_;
  std::vector<Message> messages_;
  std::vector<uint32_t> order_;
  size_t next_ = 0;  // into order_, shared by all connections as ws-load.ts's counter
  std::vector<Conn> conns_;
  int epoll_ = -1;
  size_t connecting_ = 0;
  bool running_ = false;
  bool handshake_reported_ = false;
  int64_t timeout_ns_ = 0;
  std::vector<double> samples_us_;
  uint64_t received_ = 0, bytes_ = 0, late_ = 0, unexpected_ = 0;
  Errors errors_;
  std::vector<uint8_t> buffer_;  // what one recv() reads
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s '{\"url\":\"ws://host:port/v2/stream\",\"connections\":N,\"durationS\":S,\"timeoutS\":S,\"requestFile\":\"...\"}'\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  const Config config = ParseConfig(argv[1]);
  const Endpoint endpoint = ParseUrl(config.url);
  const RequestFile requests = ReadRequestFile(config.request_file);
  Load load(config, requests);
  load.Connect(endpoint);
  load.Run();
  return 0;
}
