"""Which Keras this environment has, imported once.

The catalog tells each environment which module it calls Keras through
(``COMPAT_KERAS_API``): standalone ``keras`` (2.x before TF 2, 3.x after), ``tf.keras``
or the legacy ``tf_keras`` package. The resolver is the architecture file's, so the
harness and a user's recipe build with the same Keras; session clearing and seeding,
which only the harness needs, are added here.
"""

from compat.inside.facenet_arch import (  # noqa: F401 - the harness's names for them
    api_name,
    backend_ops,
    has_tensorflow,
    int_shape,
    is_keras3,
    keras,
    major,
    set_values,
    tf_version,
    version,
)


def clear_session():
    """Keras's clear_session, minus the flush of TensorFlow's op-kernel cache.

    Keras' global state (layer name counters, the default graph, custom objects) is what
    keeps attempts apart, and it is reset. The kernel cache holds the kernels TensorFlow
    instantiated for the ops it ran; flushing it made every later attempt instantiate them
    again. Random ops' kernels keep their generators, so initial weights drawn later differ
    from a fresh process's; no verdict rests on them (a weight no file sets is a mismatch
    whatever it was drawn as).
    """
    backend = keras().backend
    restore = _keep_kernel_cache()
    try:
        # Keras 3 would also run a full gc.collect() (0.2-0.3 s here, per attempt); the
        # global state it resets is what keeps attempts apart, and Python collects the rest.
        backend.clear_session(free_memory=False)
    except TypeError:  # Keras 2 has no such argument and never collected
        backend.clear_session()
    finally:
        restore()


def _keep_kernel_cache():
    """Make the eager context's ``clear_kernel_cache`` a no-op; returns what undoes it."""
    if not has_tensorflow():
        return lambda: None
    try:
        from tensorflow.python.eager import context

        current = context.context()
    except (ImportError, AttributeError):  # TF 1.3 has no eager context
        return lambda: None
    if not hasattr(current, "clear_kernel_cache"):
        return lambda: None
    current.clear_kernel_cache = lambda: None
    return lambda: current.__dict__.pop("clear_kernel_cache", None)


def set_random_seed(seed):
    """Seed every generator a training step draws from (Dropout masks among them)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    k = keras()
    if hasattr(k, "utils") and hasattr(k.utils, "set_random_seed"):
        k.utils.set_random_seed(seed)
        return
    if has_tensorflow():
        import tensorflow as tf

        if hasattr(tf, "random") and hasattr(tf.random, "set_seed"):
            tf.random.set_seed(seed)
        else:
            tf.set_random_seed(seed)  # TF 1.x: a graph-level seed, after clear_session
