#pragma once
// meshctl netcheck's report: a table for people, JSON for scripts, from NetcheckResponse. Pure.
#include <string>

#include "mesh/v1/agent.pb.h"

namespace mesh::agent {

std::string render_netcheck_table(const v1::NetcheckResponse& report);
std::string render_netcheck_json(const v1::NetcheckResponse& report);

}  // namespace mesh::agent
