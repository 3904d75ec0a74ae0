// The models, selected by name: mlp, vgg-mini, vgg16, deepconv:L.
// A Model is the list of layers and its input shape; building it takes no
// memory, init() takes the parameters' memory from an allocator.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/layer.h"

namespace memstrat {

struct ModelSpec {
  std::string name;         // mlp | vgg-mini | vgg16 | deepconv
  std::vector<int> widths;  // mlp: hidden widths ("mlp:1024,512"); default 512,256
  int depth = 0;            // deepconv: identical conv layers ("deepconv:16"); default 8
  int image = 0;            // input height = width; 0: the model's default
  int channels = 0;         // deepconv: channels of its conv layers; 0: 64
  int classes = 0;          // 0: the model's default (1000 for vgg16, 10 otherwise)
};

// "mlp", "mlp:1024,512", "vgg-mini", "vgg16", "deepconv:16". Throws std::invalid_argument.
ModelSpec parse_model_spec(const std::string& text);
// Every model name with a line on what it is, for help texts.
std::string model_help();

class Model {
 public:
  std::string name;
  Shape input;  // one sample: (1, C, H, W)
  int classes = 0;
  // SGD's default step. Plain VGG16 (no batch norm) diverges at 0.01 with small
  // batches, as Simonyan & Zisserman's deeper nets did without their staged init.
  float default_sgd_lr = 0.01f;
  std::vector<std::unique_ptr<Layer>> layers;

  std::vector<Param*> params() const;
  std::size_t param_count() const;
  // Takes parameter and gradient memory and fills it, deterministically from seed.
  void init(Allocator& allocator, std::uint64_t seed, bool dry_run = false);
};

// Fills in defaults and checks ranges; throws std::invalid_argument with a one-line reason.
Model build_model(ModelSpec spec);

}  // namespace memstrat
