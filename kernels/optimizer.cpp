#include "kernels/optimizer.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace memstrat {

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "adam") return OptimizerKind::adam;
  throw std::invalid_argument("unknown optimizer '" + name + "' (known: sgd, adam)");
}

const char* to_string(OptimizerKind kind) { return kind == OptimizerKind::sgd ? "sgd" : "adam"; }

int optimizer_state_buffers(OptimizerKind kind) { return kind == OptimizerKind::sgd ? 1 : 2; }

void sgd_update(float* weight, float* velocity, const float* grad, std::size_t n, float lr, float momentum,
                float weight_decay) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::size_t i = 0; i < n; ++i) {
    const float g = grad[i] + weight_decay * weight[i];
    velocity[i] = momentum * velocity[i] + g;
    weight[i] -= lr * velocity[i];
  }
}

void adam_update(float* weight, float* m, float* v, const float* grad, std::size_t n, float lr, float beta1,
                 float beta2, float eps, float weight_decay, int step) {
  const float correction1 = 1.0f - std::pow(beta1, float(step));
  const float correction2 = 1.0f - std::pow(beta2, float(step));
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::size_t i = 0; i < n; ++i) {
    const float g = grad[i] + weight_decay * weight[i];
    m[i] = beta1 * m[i] + (1.0f - beta1) * g;
    v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
    const float m_hat = m[i] / correction1, v_hat = v[i] / correction2;
    weight[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
}

std::vector<OptimizerSlot> whole_params(const std::vector<Param*>& params) {
  std::vector<OptimizerSlot> slots;
  for (Param* p : params) slots.push_back({p->value.as<float>(), p->grad.as<float>(), p->numel(), p->layer});
  return slots;
}

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<OptimizerSlot> slots, Allocator& allocator,
                     bool dry_run)
    : config_(config), slots_(std::move(slots)) {
  const int per_slot = optimizer_state_buffers(config.kind);
  state_.reserve(slots_.size() * std::size_t(per_slot));
  for (const OptimizerSlot& s : slots_)
    for (int i = 0; i < per_slot; ++i) {
      state_.emplace_back(allocator, s.n * sizeof(float), BufferKind::optimizer_state, s.layer);
      if (!dry_run && state_.back()) std::memset(state_.back().data(), 0, state_.back().bytes());
    }
}

void Optimizer::step() {
  ++steps_;
  const std::size_t per_slot = std::size_t(optimizer_state_buffers(config_.kind));
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const OptimizerSlot& s = slots_[i];
    if (s.n == 0) continue;
    if (config_.kind == OptimizerKind::sgd) {
      sgd_update(s.weight, state_[i].as<float>(), s.grad, s.n, config_.lr, config_.momentum, config_.weight_decay);
    } else {
      adam_update(s.weight, state_[i * per_slot].as<float>(), state_[i * per_slot + 1].as<float>(), s.grad, s.n,
                  config_.lr, config_.beta1, config_.beta2, config_.eps, config_.weight_decay, steps_);
    }
  }
}

}  // namespace memstrat
