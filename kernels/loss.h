// Softmax cross-entropy, forward and backward fused (the loss is the last op,
// so its gradient is ready as soon as its value is).
#pragma once

#include <cstdint>

namespace memstrat {

// Returns the loss summed over the batch. Writes dlogits (N, CLASSES) =
// (softmax(logits) - onehot(labels)) * scale; scale = 1 / (full batch size)
// makes micro-batch gradients add up to the full batch's mean.
double softmax_cross_entropy(float* dlogits, const float* logits, const std::int32_t* labels, int batch, int classes,
                             float scale);

}  // namespace memstrat
