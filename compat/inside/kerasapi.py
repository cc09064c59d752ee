"""Which Keras this environment has, imported once.

The catalog tells each environment which module it calls Keras through
(``COMPAT_KERAS_API``): standalone ``keras`` (2.x before TF 2, 3.x after), ``tf.keras``
or the legacy ``tf_keras`` package.
"""
import os

_cache = {}


def api_name():
    return os.environ.get("COMPAT_KERAS_API", "keras")


def keras():
    if "keras" not in _cache:
        api = api_name()
        if api == "tf.keras":
            import tensorflow as tf
            module = tf.keras
        elif api == "tf_keras":
            import tf_keras as module
        else:
            import keras as module
        _cache["keras"] = module
    return _cache["keras"]


def version():
    """Version string of the Keras in use (tf.keras 2.13+ has no ``__version__``)."""
    k = keras()
    found = getattr(k, "__version__", None)
    if found:
        return found
    try:
        from importlib import metadata
        return metadata.version("keras")
    except Exception:  # noqa: BLE001 - Python 3.6/3.7 lack importlib.metadata
        return "unknown"


def major():
    return int(version().split(".")[0])


def is_keras3():
    return major() >= 3


def has_tensorflow():
    try:
        import tensorflow  # noqa: F401
        return True
    except ImportError:
        return False


def tf_version():
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return getattr(tf, "__version__", None) or tf.VERSION


def backend_ops():
    """Tensor maths for custom code: ``keras.ops`` in Keras 3, the backend module before."""
    k = keras()
    return k.ops if hasattr(k, "ops") else k.backend


def int_shape(tensor):
    """Static shape as a tuple of ints / None (Keras 3 dropped ``backend.int_shape``)."""
    backend = keras().backend
    if hasattr(backend, "int_shape"):
        return backend.int_shape(tensor)
    return tuple(tensor.shape)


def set_values(pairs):
    """Assign ``(variable, array)`` pairs at once: one session run under graph-mode Keras."""
    backend = keras().backend
    if hasattr(backend, "batch_set_value"):
        backend.batch_set_value(pairs)
    else:  # Keras 3 has no batch_set_value; its variables assign eagerly
        for variable, value in pairs:
            variable.assign(value)


def clear_session():
    backend = keras().backend
    try:
        # Keras 3 would also run a full gc.collect() (0.2-0.3 s here, per attempt); the
        # global state it resets is what keeps attempts apart, and Python collects the rest.
        backend.clear_session(free_memory=False)
    except TypeError:  # Keras 2 has no such argument and never collected
        backend.clear_session()


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
