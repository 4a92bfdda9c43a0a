#include "coordinator/log_budget.hpp"

#include <algorithm>

namespace mesh::coord {

bool LogBudget::allow(const std::string& node_id, std::int64_t now, std::uint64_t& suppressed) {
    auto [it, inserted] = nodes_.try_emplace(node_id);
    Bucket& b = it->second;
    if (inserted) {
        b.tokens = burst_;
        b.refilled_at = now;
    } else if (now > b.refilled_at && refill_seconds_ > 0) {
        auto earned = static_cast<std::uint64_t>(now - b.refilled_at) / refill_seconds_;
        if (earned > 0) {
            b.tokens =
                static_cast<std::uint32_t>(std::min<std::uint64_t>(burst_, b.tokens + earned));
            b.refilled_at += static_cast<std::int64_t>(earned * refill_seconds_);
        }
    }
    if (b.tokens == 0) {
        ++b.suppressed;
        return false;
    }
    --b.tokens;
    suppressed = b.suppressed;
    b.suppressed = 0;
    return true;
}

}  // namespace mesh::coord
