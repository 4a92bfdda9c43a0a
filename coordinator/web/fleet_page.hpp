#pragma once
// The fleet page: one HTML document with its script and style inline (no external resources).
// It polls /api/fleet every second and builds the DOM with textContent only: every hostname and
// address in it comes from nodes and is untrusted.
namespace mesh::web {

const char* fleet_page_html();

}  // namespace mesh::web
