#include "kmod-bridge/capabilities.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mesh::kb {

bool has_effective_capability(int cap) {
    if (cap < 0 || cap >= 64) return false;
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    const auto word = static_cast<unsigned>(cap) / 32;
    const auto bit = 1u << (static_cast<unsigned>(cap) % 32);
    return (data[word].effective & bit) != 0;
}

}  // namespace mesh::kb
