#!/bin/sh
# Entry point of every container of the image (compose services, Helm user code and run pods,
# dashboards): refuse placeholder or empty secrets first, then run the container's command.
# Kubernetes and the Dagster chart set `args`, not `command`, so this check runs there too.
set -e
exnaton check-config
exec "$@"
