#pragma once
// `nodes list --json` and `token list --json`: a stable schema for scripts and jq (snake_case
// keys, numbers as numbers, every field present even when empty or zero, enums spelled as
// `meshctl status --json` spells them). Pure: the Admin service's answer in, text out.
#include <string>

#include "mesh/v1/admin.pb.h"

namespace mesh::coord {

std::string render_nodes_json(const v1::ListNodesResponse& response);
std::string render_tokens_json(const v1::ListTokensResponse& response);

}  // namespace mesh::coord
