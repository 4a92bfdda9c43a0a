#pragma once
// The gRPC health service (grpc.health.v1.Health on the agents' port) follows the store:
// NOT_SERVING while StoreHealth says the store is unavailable (a replica that cannot reach etcd
// serves its streams from the map it has, but can admit nobody and change nothing), SERVING
// once it answers again; and the probe that keeps StoreHealth current when nothing else asks the
// store anything.
#include <grpcpp/health_check_service_interface.h>

#include <string>

#include "coordinator/store.hpp"
#include "coordinator/store_health.hpp"

namespace mesh::coord {

// Sets `health`'s serving status (every service) on each change of the store's health, and
// logs the change (store_unavailable / store_available, naming `store_label`). Null `health`:
// logs only.
StoreHealth::Listener serving_status_follows(grpc::HealthCheckServiceInterface* health,
                                             std::string store_label);

// One cheap read (the map version) through `store`, a TimedStore: its outcome is what
// StoreHealth hears. Never throws.
void probe_store(Store& store);

}  // namespace mesh::coord
