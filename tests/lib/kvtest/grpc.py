"""gRPC status codes and the HTTP-style status kvscope gives each, read from
the etcd profile so that the tests and the agent share one table."""

import os

import yaml

from .paths import PROFILES

# The gRPC status codes by number (grpc/codes).
CODE_NAMES = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
              "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
              "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
              "Unauthenticated"]


def _profile_codes(name="etcd-3.4.yaml"):
    with open(os.path.join(PROFILES, name)) as f:
        status = yaml.safe_load(f)["status"]
    return {int(k): str(v) for k, v in status["codes"].items()}, str(status["default"])


# gRPC code number -> HTTP-style status label; any other code gets DEFAULT_STATUS.
CODE_TO_STATUS, DEFAULT_STATUS = _profile_codes()
# gRPC code name (as etcd's grpc_server_handled_total labels it) -> status label.
GRPC_TO_STATUS = {n: CODE_TO_STATUS[i] for i, n in enumerate(CODE_NAMES)}
