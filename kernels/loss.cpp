#include "kernels/loss.h"

#include <cmath>
#include <cstddef>

namespace memstrat {

double softmax_cross_entropy(float* dlogits, const float* logits, const std::int32_t* labels, int batch, int classes,
                             float scale) {
  double total = 0.0;
  for (int n = 0; n < batch; ++n) {
    const float* z = logits + std::size_t(n) * classes;
    float* dz = dlogits + std::size_t(n) * classes;
    float max_z = z[0];
    for (int k = 1; k < classes; ++k) max_z = std::fmax(max_z, z[k]);
    double denom = 0.0;
    for (int k = 0; k < classes; ++k) denom += std::exp(double(z[k] - max_z));
    const int label = labels[n];
    total += std::log(denom) - double(z[label] - max_z);
    for (int k = 0; k < classes; ++k) {
      const double p = std::exp(double(z[k] - max_z)) / denom;
      dz[k] = float((p - (k == label ? 1.0 : 0.0)) * scale);
    }
  }
  return total;
}

}  // namespace memstrat
