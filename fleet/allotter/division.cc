#include "division.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

namespace sluice::fleet {
namespace {

// Weighted max-min: every host min(want, level * weight), sum == capacity
// unless everyone's want fits.
std::vector<double> WaterFill(double capacity, std::span<const Claimant> c) {
  std::vector<double> out(c.size(), 0);
  std::vector<size_t> order(c.size());
  std::iota(order.begin(), order.end(), 0);
  // Hosts saturate in order of want/weight.
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return c[a].want / c[a].weight < c[b].want / c[b].weight; });
  double left = capacity;
  double weights = 0;
  for (const Claimant& x : c) weights += x.weight;
  for (size_t i : order) {
    const double level = left / weights;
    const double give = std::min(c[i].want, level * c[i].weight);
    out[i] = give;
    left -= give;
    weights -= c[i].weight;
  }
  return out;
}

std::vector<double> Proportional(double capacity, std::span<const Claimant> c) {
  double weights = 0;
  for (const Claimant& x : c) weights += x.weight;
  std::vector<double> out(c.size(), 0);
  double left = capacity;
  double extra_wanted = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    const double equal = capacity * c[i].weight / weights;
    out[i] = std::min(c[i].want, equal);
    left -= out[i];
    extra_wanted += c[i].want - out[i];
  }
  if (extra_wanted > 0 && left > 0) {
    const double f = std::min(1.0, left / extra_wanted);
    for (size_t i = 0; i < c.size(); ++i) out[i] += (c[i].want - out[i]) * f;
  }
  return out;
}

// Hands `capacity - sum(out)` out by weight.
void Headroom(double capacity, std::span<const Claimant> c, std::vector<double>* out) {
  double used = 0, weights = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    used += (*out)[i];
    weights += c[i].weight;
  }
  const double spare = capacity - used;
  if (spare <= 0) return;
  for (size_t i = 0; i < c.size(); ++i) (*out)[i] += spare * c[i].weight / weights;
}

}  // namespace

std::vector<uint64_t> Divide(Division division, uint64_t capacity, uint64_t granule,
                             std::span<const Claimant> claimants) {
  assert(granule >= 1);
  std::vector<uint64_t> result(claimants.size(), 0);
  if (claimants.empty() || capacity < granule) return result;
  const double cap = static_cast<double>(capacity);
  std::vector<double> exact;
  switch (division) {
    case Division::kStatic: {
      double weights = 0;
      for (const Claimant& x : claimants) weights += x.weight;
      for (const Claimant& x : claimants)
        exact.push_back(std::min(x.want, cap * x.weight / weights));
      break;
    }
    case Division::kProportional:
      exact = Proportional(cap, claimants);
      Headroom(cap, claimants, &exact);
      break;
    case Division::kFair:
      exact = WaterFill(cap, claimants);
      Headroom(cap, claimants, &exact);
      break;
  }
  // Round down to granules, then give the granules that rounding lost to
  // the largest remainders (never above a host's exact figure rounded up,
  // never past capacity).
  // Never more than the exact figures add up to (static may add up to less).
  double total = 0;
  for (double e : exact) total += std::max(0.0, e);
  const uint64_t units = std::min<uint64_t>(
      capacity / granule, static_cast<uint64_t>(std::floor(total / granule + 1e-9)));
  uint64_t given = 0;
  std::vector<std::pair<double, size_t>> rest;
  for (size_t i = 0; i < claimants.size(); ++i) {
    const double g = std::max(0.0, exact[i] / static_cast<double>(granule));
    const uint64_t whole = std::min<uint64_t>(static_cast<uint64_t>(std::floor(g)), units);
    result[i] = whole;
    given += whole;
    if (g - static_cast<double>(whole) > 1e-9) rest.emplace_back(g - static_cast<double>(whole), i);
  }
  // Floating error can only have made the sum too large by a unit or so.
  for (size_t i = claimants.size(); given > units && i-- > 0;) {
    const uint64_t cut = std::min(result[i], given - units);
    result[i] -= cut;
    given -= cut;
  }
  std::stable_sort(rest.begin(), rest.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [frac, i] : rest) {
    if (given >= units) break;
    ++result[i];
    ++given;
  }
  for (uint64_t& r : result) r *= granule;
  return result;
}

}  // namespace sluice::fleet
