#include "kernels/models.h"

#include <charconv>
#include <stdexcept>

namespace memstrat {

namespace {

int parse_positive(std::string_view text, const std::string& what) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0)
    throw std::invalid_argument(what + " must be a positive whole number (got '" + std::string(text) + "')");
  return value;
}

void check_range(int value, int low, int high, const std::string& what) {
  if (value < low || value > high)
    throw std::invalid_argument(what + " must be between " + std::to_string(low) + " and " + std::to_string(high) +
                                " (got " + std::to_string(value) + ")");
}

// Simonyan & Zisserman 2014, configuration D: 13 conv 3x3, 0 = max pool.
constexpr int kVgg16[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
// CIFAR-size: three conv blocks, then a small classifier.
constexpr int kVggMini[] = {32, 32, 0, 64, 64, 0, 128, 0};

// Conv stack from a VGG-style configuration; returns the feature shape after it.
Shape add_conv_stack(Model& m, const int* config, std::size_t count, Shape shape) {
  for (std::size_t i = 0; i < count; ++i) {
    const int index = int(m.layers.size());
    if (config[i] == 0) {
      m.layers.push_back(make_maxpool2(index));
    } else {
      m.layers.push_back(make_conv(index, shape.c, config[i], 3, 1, 1, true));
    }
    shape = m.layers.back()->output_shape(shape);
  }
  return shape;
}

void add_classifier(Model& m, int in_features, const std::vector<int>& hidden) {
  int width = in_features;
  for (int h : hidden) {
    m.layers.push_back(make_linear(int(m.layers.size()), width, h, true));
    width = h;
  }
  m.layers.push_back(make_linear(int(m.layers.size()), width, m.classes, false));
}

}  // namespace

ModelSpec parse_model_spec(const std::string& text) {
  ModelSpec spec;
  const auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (spec.name == "mlp") {
    for (std::size_t start = 0; start < arg.size();) {
      const auto comma = std::min(arg.find(',', start), arg.size());
      spec.widths.push_back(parse_positive(std::string_view(arg).substr(start, comma - start), "an mlp width"));
      start = comma + 1;
    }
  } else if (spec.name == "deepconv") {
    if (!arg.empty()) spec.depth = parse_positive(arg, "deepconv's layer count");
  } else if (spec.name == "vgg-mini" || spec.name == "vgg16") {
    if (!arg.empty()) throw std::invalid_argument("model '" + spec.name + "' takes no ':' option");
  } else {
    throw std::invalid_argument("unknown model '" + text + "' (known: mlp[:W,W,...], vgg-mini, vgg16, deepconv[:L])");
  }
  return spec;
}

std::string model_help() {
  return "mlp[:W,W,...]  fully connected, hidden widths W (default 512,256), input 3xSxS flattened\n"
         "vgg-mini       CIFAR-size VGG: conv 32,32,pool,64,64,pool,128,pool, fc 256, fc classes\n"
         "vgg16          VGG configuration D: 13 conv 3x3 + 3 fully connected (default 224x224, 1000 classes; sgd lr "
         "0.001)\n"
         "deepconv[:L]   L identical conv 3x3 layers of --channels (default 8 layers of 64; sgd lr 0.001), the "
         "recompute "
         "workload\n"
         "(sgd's default lr is 0.01 where none is named)";
}

std::vector<Param*> Model::params() const {
  std::vector<Param*> all;
  for (const auto& layer : layers)
    for (Param* p : layer->params()) all.push_back(p);
  return all;
}

std::size_t Model::param_count() const {
  std::size_t total = 0;
  for (const Param* p : params()) total += p->numel();
  return total;
}

void Model::init(Allocator& allocator, std::uint64_t seed, bool dry_run) {
  for (auto& layer : layers) {
    Rng rng(seed * 1000003u + std::uint64_t(layer->index()));
    layer->init(allocator, rng, dry_run);
  }
}

Model build_model(ModelSpec spec) {
  Model m;
  m.name = spec.name;
  const bool is_vgg16 = spec.name == "vgg16";
  if (spec.image == 0) spec.image = is_vgg16 ? 224 : 32;
  if (spec.classes == 0) spec.classes = is_vgg16 ? 1000 : 10;
  check_range(spec.classes, 2, 100000, "the class count");
  m.classes = spec.classes;

  if (spec.name == "mlp") {
    check_range(spec.image, 1, 1024, "the image size");
    if (spec.widths.empty()) spec.widths = {512, 256};
    for (int w : spec.widths) check_range(w, 1, 1 << 20, "an mlp width");
    m.input = {1, 3, spec.image, spec.image};
    add_classifier(m, int(m.input.per_sample()), spec.widths);
  } else if (spec.name == "vgg-mini" || is_vgg16) {
    check_range(spec.image, is_vgg16 ? 32 : 8, 4096, "the image size for " + spec.name);
    m.input = {1, 3, spec.image, spec.image};
    const Shape features = is_vgg16 ? add_conv_stack(m, kVgg16, std::size(kVgg16), m.input)
                                    : add_conv_stack(m, kVggMini, std::size(kVggMini), m.input);
    const std::vector<int> hidden = is_vgg16 ? std::vector<int>{4096, 4096} : std::vector<int>{256};
    add_classifier(m, int(features.per_sample()), hidden);
    if (is_vgg16) m.default_sgd_lr = 0.001f;
  } else if (spec.name == "deepconv") {
    if (spec.depth == 0) spec.depth = 8;
    if (spec.channels == 0) spec.channels = 64;
    check_range(spec.depth, 1, 1000, "deepconv's layer count");
    check_range(spec.channels, 1, 4096, "the channel count");
    check_range(spec.image, 2, 4096, "the image size");
    m.name = "deepconv:" + std::to_string(spec.depth);
    m.input = {1, 3, spec.image, spec.image};
    // A stem lifts 3 channels to C; then L identical C->C layers; pool; classifier.
    m.layers.push_back(make_conv(0, 3, spec.channels, 3, 1, 1, true));
    for (int i = 0; i < spec.depth; ++i)
      m.layers.push_back(make_conv(int(m.layers.size()), spec.channels, spec.channels, 3, 1, 1, true));
    m.layers.push_back(make_maxpool2(int(m.layers.size())));
    const Shape features = m.layers.back()->output_shape({1, spec.channels, spec.image, spec.image});
    add_classifier(m, int(features.per_sample()), {});
    // Like VGG16: a deep plain stack (no batch norm) whose classifier reads tens of
    // thousands of features diverges at 0.01 (deepconv:16 at 64x64: 2.46 -> 101 in one
    // step, and at 0.003 too); at 0.001 it trains.
    m.default_sgd_lr = 0.001f;
  } else {
    throw std::invalid_argument("unknown model '" + spec.name + "'");
  }
  return m;
}

}  // namespace memstrat
