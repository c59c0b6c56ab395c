"""Collection settings for the whole test tree.

tests/backend_spec is a backend-neutral specification suite that must run
once per Keras backend, each in its own process (the backend is fixed when
Keras is first imported). tests/test_backends.py starts those processes with
KERAS_BACKDROP_SPEC_SUITE=1; the ordinary run, on the default backend, does
not collect the suite itself. To run it by hand (a path given explicitly is
collected even when ignored here):

    KERAS_BACKEND=jax python -m pytest tests/backend_spec
"""

import os

collect_ignore = []
if os.environ.get("KERAS_BACKDROP_SPEC_SUITE") != "1":
    collect_ignore.append("backend_spec")
