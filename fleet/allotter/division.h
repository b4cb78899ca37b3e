// Dividing one fleet-wide amount among hosts: pure functions, no time, no
// state (youtube/doorman's doc/algorithms.md is the reference).
//
//   static:       each host gets min(want, its weighted equal part).
//   proportional: each host first gets min(want, its weighted equal part);
//                 what that leaves is given to the hosts that want more, in
//                 proportion to how much more they want (never above want).
//   fair:         weighted max-min (water filling): the largest level L
//                 such that every host gets min(want, L * weight).
//
// proportional and fair then hand out what nobody wants, by weight, as
// headroom (a host whose demand grows uses it before its next refresh);
// static does not. Results are multiples of `granule` and never sum to more
// than `capacity`. Thread-safe (no state).
#ifndef SLUICE_FLEET_ALLOTTER_DIVISION_H_
#define SLUICE_FLEET_ALLOTTER_DIVISION_H_

#include <cstdint>
#include <span>
#include <vector>

#include "config.h"

namespace sluice::fleet {

struct Claimant {
  double want = 0;    // amount wanted, >= 0
  double weight = 1;  // > 0
};

// REQUIRES: granule >= 1; every want >= 0 and weight > 0, finite.
std::vector<uint64_t> Divide(Division division, uint64_t capacity, uint64_t granule,
                             std::span<const Claimant> claimants);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ALLOTTER_DIVISION_H_
