// bench_runner: load one ExecuTorch .pte, run warmups then measured iterations of "forward",
// and print ONE versioned JSON object (schema in bench/results.py) with every raw latency.
//
// Built against the released executorch wheel (host x86_64, or its aarch64 twin for phones).
// Exit status: 0 ok, 1 runtime failure (message on stderr), 2 bad usage.

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/platform/runtime.h>
#ifdef BENCH_RUNNER_HAS_ETDUMP
#include <executorch/devtools/etdump/etdump_flatcc.h>
#endif

#include "sha256.h"

// threadpool.h is not shipped in the wheel; these match the symbols that
// libexecutorch_threadpool.so exports (checked with `nm -DC`).
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

#ifndef BENCH_RUNNER_VERSION
#define BENCH_RUNNER_VERSION "0.0.0"
#endif
#ifndef EXECUTORCH_VERSION
#define EXECUTORCH_VERSION "unknown"
#endif

namespace {

using executorch::aten::ScalarType;
using executorch::extension::module::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using Clock = std::chrono::steady_clock;

constexpr int kSchemaVersion = 1;

struct Options {
  std::string model;
  std::string json_out;     // write the JSON here as well as stdout
  std::string input_file;   // raw bytes of input 0, else a seeded pseudo-random input
  std::string output_file;  // raw bytes of output 0
  std::string etdump_file;
  uint64_t seed = 0;
  int threads = 1;
  int cpu = -1;  // pin the process (and so the pool) to this CPU
  int warmup = 5;
  int iterations = 50;  // the minimum measured iterations
  int max_iterations = 100000;
  double min_time_s = 0.0;       // keep measuring at least this long
  double max_time_s = 0.0;       // budget: stop once this much measuring time has passed
  double target_precision = 0;   // stop once the 95% CI of the median is within +-this fraction
  bool mmap = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bench_runner: %s\n"
               "usage: bench_runner --model M.pte [--threads 1] [--cpu N] [--warmup 5]\n"
               "  [--iterations 50] [--min-time S] [--max-time S] [--target-precision 0.01]\n"
               "  [--max-iterations N] [--seed 0] [--input-file in.bin]\n"
               "  [--output-file out.bin] [--etdump prof.etdp] [--json out.json] [--mmap]\n",
               why);
  std::exit(2);
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "bench_runner: error: %s\n", why.c_str());
  std::exit(1);
}

Options parse(int argc, char** argv) {
  Options o;
  auto need = [&](int& i) -> const char* {
    if (i + 1 >= argc) usage((std::string("missing value for ") + argv[i]).c_str());
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--model") o.model = need(i);
    else if (a == "--json") o.json_out = need(i);
    else if (a == "--input-file") o.input_file = need(i);
    else if (a == "--output-file") o.output_file = need(i);
    else if (a == "--etdump") o.etdump_file = need(i);
    else if (a == "--seed") o.seed = std::strtoull(need(i), nullptr, 10);
    else if (a == "--threads") o.threads = std::atoi(need(i));
    else if (a == "--cpu") o.cpu = std::atoi(need(i));
    else if (a == "--warmup") o.warmup = std::atoi(need(i));
    else if (a == "--iterations") o.iterations = std::atoi(need(i));
    else if (a == "--max-iterations") o.max_iterations = std::atoi(need(i));
    else if (a == "--min-time") o.min_time_s = std::atof(need(i));
    else if (a == "--max-time") o.max_time_s = std::atof(need(i));
    else if (a == "--target-precision") o.target_precision = std::atof(need(i));
    else if (a == "--mmap") o.mmap = true;
    else if (a == "--version") {
      std::printf("bench_runner %s executorch %s\n", BENCH_RUNNER_VERSION, EXECUTORCH_VERSION);
      std::exit(0);
    } else if (a == "-h" || a == "--help") usage("help");
    else usage(("unknown argument " + a).c_str());
  }
  if (o.model.empty()) usage("--model is required");
  if (o.threads < 1) usage("--threads must be >= 1");
  if (o.warmup < 0 || o.iterations < 1 || o.max_iterations < o.iterations) {
    usage("need --warmup >= 0 and 1 <= --iterations <= --max-iterations");
  }
  return o;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string num(double v, const char* fmt = "%.6f") {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  return cpus;
}

std::string cpu_mask_hex(const std::vector<int>& cpus) {
  // Hex like taskset prints, from the highest nibble down.
  int top = cpus.empty() ? 0 : cpus.back();
  std::string out;
  for (int base = (top / 4) * 4; base >= 0; base -= 4) {
    int nib = 0;
    for (int c : cpus) {
      if (c >= base && c < base + 4) nib |= 1 << (c - base);
    }
    out.push_back("0123456789abcdef"[nib]);
  }
  return "0x" + out;
}

const char* dtype_name(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "float32";
    case ScalarType::Double: return "float64";
    case ScalarType::Half: return "float16";
    case ScalarType::Char: return "int8";
    case ScalarType::Byte: return "uint8";
    case ScalarType::Int: return "int32";
    case ScalarType::Long: return "int64";
    case ScalarType::Bool: return "bool";
    default: return "other";
  }
}

// Deterministic input: splitmix64 stream -> floats uniform in [-1, 1) (or raw bytes).
std::vector<uint8_t> make_input(ScalarType type, size_t nbytes, uint64_t seed) {
  std::vector<uint8_t> buf(nbytes);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
  auto next = [&]() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  if (type == ScalarType::Float) {
    auto* f = reinterpret_cast<float*>(buf.data());
    for (size_t i = 0; i < nbytes / sizeof(float); ++i) {
      // 24 random bits -> exactly representable float in [-1, 1)
      f[i] = static_cast<float>(static_cast<int32_t>(next() >> 40) - (1 << 23)) /
             static_cast<float>(1 << 23);
    }
  } else {
    for (auto& b : buf) b = static_cast<uint8_t>(next() >> 56);
  }
  return buf;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Relative half-width of a distribution-free 95% CI of the median (normal approximation to
// the binomial ranks). bench/stats.py computes the exact interval for reports.
double median_rel_halfwidth(std::vector<double> v) {
  const size_t n = v.size();
  if (n < 6) return INFINITY;
  std::sort(v.begin(), v.end());
  const double half = 1.959963984540054 * std::sqrt(double(n)) / 2.0;
  long lo = static_cast<long>(std::floor(n / 2.0 - half));      // 1-based rank
  long hi = static_cast<long>(std::ceil(1 + n / 2.0 + half));   // 1-based rank
  lo = std::max(lo, 1L);
  hi = std::min(hi, static_cast<long>(n));
  const double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  if (med <= 0) return INFINITY;
  return (v[hi - 1] - v[lo - 1]) / 2.0 / med;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);

  if (opt.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opt.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      fail("cannot pin to cpu " + std::to_string(opt.cpu) + ": " + std::strerror(errno));
    }
  }
  const int cpu_start = sched_getcpu();
  executorch::runtime::runtime_init();

  // One XNNPACK thread by default: the pool otherwise sizes itself to the performant cores
  // (2 threads on a 1-core taskset here), which is slower and not what the papers measured.
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr || !pool->_unsafe_reset_threadpool(static_cast<uint32_t>(opt.threads))) {
    fail("cannot set the thread pool to " + std::to_string(opt.threads) + " threads");
  }
  const size_t pool_threads = pool->get_thread_count();

  {
    std::ifstream probe(opt.model, std::ios::binary);
    if (!probe) fail("cannot open model " + opt.model);
  }
  const std::string sha = bench::sha256_file(opt.model);

  std::unique_ptr<executorch::runtime::EventTracer> tracer;
#ifdef BENCH_RUNNER_HAS_ETDUMP
  if (!opt.etdump_file.empty()) tracer = std::make_unique<executorch::etdump::ETDumpGen>();
#else
  if (!opt.etdump_file.empty()) fail("this runner was built without ETDump");
#endif

  Module module(opt.model, opt.mmap ? Module::LoadMode::Mmap : Module::LoadMode::File,
                std::move(tracer));
  const auto t_load = Clock::now();
  Error err = module.load();
  if (err != Error::Ok) fail("cannot load program (error " + std::to_string(int(err)) + ")");
  err = module.load_method("forward");
  if (err != Error::Ok) fail("cannot load method forward (error " + std::to_string(int(err)) + ")");
  const double load_ms = ms_since(t_load);

  auto meta = module.method_meta("forward");
  if (!meta.ok()) fail("no method metadata for forward");
  if (meta->num_inputs() < 1) fail("forward takes no inputs");
  auto in_info = meta->input_tensor_meta(0);
  if (!in_info.ok()) fail("input 0 of forward is not a tensor");
  std::vector<executorch::aten::SizesType> in_sizes(in_info->sizes().begin(),
                                                    in_info->sizes().end());
  std::vector<uint8_t> input;
  if (!opt.input_file.empty()) {
    input = read_file(opt.input_file);
    if (input.size() != in_info->nbytes()) {
      fail("input file has " + std::to_string(input.size()) + " bytes, the model wants " +
           std::to_string(in_info->nbytes()));
    }
  } else {
    input = make_input(in_info->scalar_type(), in_info->nbytes(), opt.seed);
  }
  auto in_tensor =
      executorch::extension::from_blob(input.data(), in_sizes, in_info->scalar_type());
  err = module.set_input("forward", EValue(in_tensor), 0);
  if (err != Error::Ok) fail("cannot set input 0 (error " + std::to_string(int(err)) + ")");

  auto run_once = [&]() -> double {
    const auto t0 = Clock::now();
    auto out = module.execute("forward");
    const double ms = ms_since(t0);
    if (!out.ok()) fail("forward failed (error " + std::to_string(int(out.error())) + ")");
    return ms;
  };

  const double first_ms = run_once();
  std::vector<double> warmup_ms;
  for (int i = 0; i < opt.warmup; ++i) warmup_ms.push_back(run_once());

  std::vector<double> samples;
  samples.reserve(opt.iterations);
  std::string stop_reason;
  const auto t_measure = Clock::now();
  for (;;) {
    samples.push_back(run_once());
    const double elapsed_s = ms_since(t_measure) / 1000.0;
    const int n = static_cast<int>(samples.size());
    if (n >= opt.max_iterations) { stop_reason = "max_iterations"; break; }
    if (opt.max_time_s > 0 && elapsed_s >= opt.max_time_s) { stop_reason = "time_budget"; break; }
    if (n < opt.iterations || elapsed_s < opt.min_time_s) continue;
    if (opt.target_precision <= 0) {
      stop_reason = opt.min_time_s > 0 ? "min_time" : "iterations";
      break;
    }
    if (median_rel_halfwidth(samples) <= opt.target_precision) { stop_reason = "precision"; break; }
  }
  const int cpu_end = sched_getcpu();

  // Output 0 after the last iteration (the input never changes, so every run computes it).
  auto outputs = module.execute("forward");
  if (!outputs.ok() || outputs->empty() || !(*outputs)[0].isTensor()) {
    fail("forward returned no tensor");
  }
  const auto& out = (*outputs)[0].toTensor();
  const size_t numel = static_cast<size_t>(out.numel());
  double checksum = 0, abs_sum = 0, best = -INFINITY;
  long top1 = -1;
  for (size_t i = 0; i < numel; ++i) {
    double v;
    switch (out.scalar_type()) {
      case ScalarType::Float: v = out.const_data_ptr<float>()[i]; break;
      case ScalarType::Double: v = out.const_data_ptr<double>()[i]; break;
      case ScalarType::Char: v = out.const_data_ptr<int8_t>()[i]; break;
      case ScalarType::Byte: v = out.const_data_ptr<uint8_t>()[i]; break;
      case ScalarType::Int: v = out.const_data_ptr<int32_t>()[i]; break;
      case ScalarType::Long: v = static_cast<double>(out.const_data_ptr<int64_t>()[i]); break;
      default: fail(std::string("unsupported output dtype ") + dtype_name(out.scalar_type()));
    }
    checksum += v;
    abs_sum += std::fabs(v);
    if (v > best) { best = v; top1 = static_cast<long>(i); }
  }
  if (!opt.output_file.empty()) {
    std::ofstream o(opt.output_file, std::ios::binary);
    o.write(static_cast<const char*>(out.const_data_ptr()), static_cast<std::streamsize>(out.nbytes()));
    if (!o) fail("cannot write " + opt.output_file);
  }
  std::string out_shape, in_shape;
  for (auto s : out.sizes()) out_shape += (out_shape.empty() ? "" : ",") + std::to_string(s);
  for (auto s : in_sizes) in_shape += (in_shape.empty() ? "" : ",") + std::to_string(s);

#ifdef BENCH_RUNNER_HAS_ETDUMP
  if (!opt.etdump_file.empty()) {
    auto* gen = static_cast<executorch::etdump::ETDumpGen*>(module.event_tracer());
    auto dump = gen->get_etdump_data();
    if (dump.buf == nullptr || dump.size == 0) fail("ETDump produced no data");
    std::ofstream o(opt.etdump_file, std::ios::binary);
    o.write(static_cast<const char*>(dump.buf), static_cast<std::streamsize>(dump.size));
    std::free(dump.buf);
    if (!o) fail("cannot write " + opt.etdump_file);
  }
#endif

  struct utsname un{};
  uname(&un);
  const auto cpus = allowed_cpus();
  std::string cpu_list;
  for (int c : cpus) cpu_list += (cpu_list.empty() ? "" : ",") + std::to_string(c);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);

  std::ostringstream j;
  j << "{\"schema_version\":" << kSchemaVersion
    << ",\"runner\":{\"name\":\"bench_runner\",\"version\":" << json_str(BENCH_RUNNER_VERSION)
    << ",\"executorch_version\":" << json_str(EXECUTORCH_VERSION) << "}"
    << ",\"artifact\":{\"sha256\":" << json_str(sha) << ",\"path\":" << json_str(opt.model) << "}"
    << ",\"config\":{\"threads\":" << pool_threads << ",\"threads_requested\":" << opt.threads
    << ",\"cpu_mask\":" << json_str(cpu_mask_hex(cpus)) << ",\"warmup\":" << opt.warmup
    << ",\"iterations\":" << samples.size() << ",\"min_iterations\":" << opt.iterations
    << ",\"max_iterations\":" << opt.max_iterations << ",\"min_time_s\":" << num(opt.min_time_s)
    << ",\"max_time_s\":" << num(opt.max_time_s)
    << ",\"target_precision\":" << num(opt.target_precision)
    << ",\"stop_reason\":" << json_str(stop_reason)
    << ",\"input\":" << json_str(opt.input_file.empty() ? "seed:" + std::to_string(opt.seed)
                                                        : "file:" + opt.input_file)
    << ",\"input_shape\":[" << in_shape << "],\"input_dtype\":"
    << json_str(dtype_name(in_info->scalar_type())) << ",\"load_mode\":"
    << json_str(opt.mmap ? "mmap" : "file") << ",\"etdump\":"
    << (opt.etdump_file.empty() ? "null" : json_str(opt.etdump_file)) << "}"
    << ",\"load_ms\":" << num(load_ms) << ",\"first_inference_ms\":" << num(first_ms)
    << ",\"warmup_ms\":[";
  for (size_t i = 0; i < warmup_ms.size(); ++i) j << (i ? "," : "") << num(warmup_ms[i]);
  j << "],\"samples_ms\":[";
  for (size_t i = 0; i < samples.size(); ++i) j << (i ? "," : "") << num(samples[i]);
  j << "],\"output\":{\"checksum\":" << num(checksum, "%.17g") << ",\"abs_sum\":"
    << num(abs_sum, "%.17g") << ",\"top1\":" << top1 << ",\"top1_value\":" << num(best, "%.9g")
    << ",\"dtype\":" << json_str(dtype_name(out.scalar_type())) << ",\"shape\":[" << out_shape
    << "],\"numel\":" << numel << "}"
    << ",\"device\":{\"machine\":" << json_str(un.machine) << ",\"kernel\":"
    << json_str(un.release) << ",\"hostname\":" << json_str(host)
    << ",\"cpu_start\":" << cpu_start << ",\"cpu_end\":" << cpu_end << ",\"affinity\":["
    << cpu_list << "],\"online_cpus\":" << sysconf(_SC_NPROCESSORS_ONLN) << "}"
    << ",\"emulated\":false}";
  const std::string text = j.str();
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  if (!opt.json_out.empty()) {
    std::ofstream o(opt.json_out);
    o << text << "\n";
    if (!o) fail("cannot write " + opt.json_out);
  }
  return 0;
}
