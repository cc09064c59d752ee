"""Copy weights from an HDF5 file into a rebuilt model with h5py, layer by layer.

The code is the architecture file's (``facenet_arch.set_weights_from_file``), so the
``h5_transplant`` strategy runs exactly what its recipe hands a user.
"""

from compat.inside.facenet_arch import (  # noqa: F401 - the harness's names for them
    new_layout_keys,
    set_weights_from_file,
    weights_by_layer,
)
